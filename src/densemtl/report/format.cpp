#include "densemtl/report/format.h"

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::report {

namespace {

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string markdown_row(const std::vector<std::string>& cells) {
  std::vector<std::string> escaped;
  for (const auto& c : cells) escaped.push_back(markdown_cell(c));
  return "| " + join(escaped, " | ") + " |\n";
}

}  // namespace

std::string markdown_table(const std::vector<std::string>& header, const TableRows& rows) {
  std::string s = markdown_row(header) + "|";
  for (std::size_t i = 0; i < header.size(); ++i) s += i == 0 ? "---|" : "---:|";
  s += "\n";
  for (const auto& r : rows) s += markdown_row(r);
  return s;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string html_table(const std::vector<std::string>& header, const TableRows& rows) {
  std::string s = "<table><thead><tr>";
  for (const auto& h : header) s += "<th>" + html_escape(h) + "</th>";
  s += "</tr></thead><tbody>";
  for (const auto& r : rows) {
    s += "<tr>";
    for (const auto& c : r) s += "<td>" + html_escape(c) + "</td>";
    s += "</tr>";
  }
  return s + "</tbody></table>";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_figure(const fs::path& png, const std::string& caption) {
  return "<figure><img src=\"data:image/png;base64," + base64(read_file(png)) + "\"><figcaption>" + html_escape(caption) +
         "</figcaption></figure>";
}

std::string html_page_start(const std::string& title) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
         "</title><style>"
         "body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
         "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
         "td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #ddd}"
         "</style></head><body><h1>" + html_escape(title) + "</h1>";
}

std::string html_page_end() { return "</body></html>\n"; }

namespace {

std::string csv_line(const std::vector<std::string>& cells) {
  std::vector<std::string> fields;
  for (const auto& c : cells) fields.push_back(csv_field(c));
  return join(fields, ",") + "\n";
}

}  // namespace

std::string Table::csv() const {
  std::string out = csv_line(header);
  for (const auto& r : rows) out += csv_line(r);
  return out;
}

std::string Page::markdown(const fs::path& folder) const {
  std::string md = "# " + title_ + "\n\n";
  for (const auto& b : blocks_) {
    switch (b.kind) {
      case Block::Heading: md += "\n" + std::string(static_cast<std::size_t>(b.level), '#') + " " + b.text + "\n\n"; break;
      case Block::Paragraph: md += b.text + "\n\n"; break;
      case Block::Table: md += b.table.markdown() + "\n"; break;
      case Block::Figure: md += "**" + b.text + "**\n\n![](" + fs::relative(b.png, folder).string() + ")\n\n"; break;
    }
  }
  return md;
}

std::string Page::html() const {
  std::string html = html_page_start(title_);
  for (const auto& b : blocks_) {
    switch (b.kind) {
      case Block::Heading: html += fmt::format("<h{0}>{1}</h{0}>", b.level, html_escape(b.text)); break;
      case Block::Paragraph: html += "<p>" + html_escape(b.text) + "</p>"; break;
      case Block::Table: html += b.table.html(); break;
      case Block::Figure: html += html_figure(b.png, b.text); break;
    }
  }
  return html + html_page_end();
}

void Page::write(const fs::path& stem) const {
  fs::path md = stem, html = stem;
  md += ".md";
  html += ".html";
  write_file_atomic(md, markdown(md.parent_path()));
  write_file_atomic(html, this->html());
}

}  // namespace densemtl::report

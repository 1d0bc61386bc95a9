// Text formats of results tables and pages, one writer for the report and the benchmark tables:
// a table as Markdown, HTML or CSV; a page written once as Markdown (pictures linked) and once as
// self-contained HTML (pictures embedded) from the same content.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::report {

using TableRows = std::vector<std::vector<std::string>>;

// First column left-aligned, the others right-aligned. A cell's '|' is escaped and line breaks
// become spaces, so that any name keeps the table's shape.
std::string markdown_table(const std::vector<std::string>& header, const TableRows& rows);
std::string html_table(const std::vector<std::string>& header, const TableRows& rows);
std::string html_escape(const std::string& s);
// Quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);
std::string base64(const std::string& bytes);
// A <figure> with the PNG embedded and its caption.
std::string html_figure(const fs::path& png, const std::string& caption);
// The page's head with the style every densemtl page uses, and its end.
std::string html_page_start(const std::string& title);
std::string html_page_end();

// A table of text cells.
struct Table {
  std::vector<std::string> header;
  TableRows rows;
  std::string markdown() const { return markdown_table(header, rows); }
  std::string html() const { return html_table(header, rows); }
  // Every field through csv_field, one line per row after the header.
  std::string csv() const;
};

// A picture of a page and its caption.
struct Figure {
  std::string caption;
  fs::path png;
};

// A results page: headings, paragraphs, tables and figures, in order.
class Page {
 public:
  explicit Page(std::string title) : title_(std::move(title)) {}
  void heading(const std::string& text, int level = 2) { blocks_.push_back({Block::Heading, level, text, {}, {}}); }
  void paragraph(const std::string& text) { blocks_.push_back({Block::Paragraph, 0, text, {}, {}}); }
  void table(const Table& t) { blocks_.push_back({Block::Table, 0, {}, t, {}}); }
  void figure(const Figure& f) { blocks_.push_back({Block::Figure, 0, f.caption, {}, f.png}); }
  // Markdown with pictures linked relative to `folder` (where the page is written).
  std::string markdown(const fs::path& folder) const;
  std::string html() const;
  // `stem`.md and `stem`.html, atomically.
  void write(const fs::path& stem) const;

 private:
  struct Block {
    enum Kind { Heading, Paragraph, Table, Figure } kind;
    int level;
    std::string text;
    report::Table table;
    fs::path png;
  };
  std::string title_;
  std::vector<Block> blocks_;
};

}  // namespace densemtl::report

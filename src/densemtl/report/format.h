// Text formats of results tables and pages: Markdown and HTML tables, CSV fields, HTML escaping,
// base64 for pictures embedded in a self-contained page.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::report {

using TableRows = std::vector<std::vector<std::string>>;

// First column left-aligned, the others right-aligned.
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

}  // namespace densemtl::report

#include "densemtl/report/plots.h"

#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "densemtl/core/strings.h"

namespace densemtl::report {

namespace {
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}
}  // namespace

bool line_plot(const fs::path& png, const std::vector<Series>& series, const PlotOptions& o, std::string* error) {
  fs::create_directories(png.parent_path());
  fs::path data = png;
  data += ".dat";
  {
    std::ofstream out(data);
    for (const auto& s : series) {
      for (std::size_t i = 0; i < s.x.size(); ++i) out << s.x[i] << " " << s.y[i] << "\n";
      out << "\n\n";
    }
  }
  std::string script = fmt::format("set terminal pngcairo size {},{} font 'sans,10'\nset output {}\n", o.width, o.height, quote(png.string()));
  script += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\nset grid\nset key outside right\nset termoption noenhanced\n", quote(o.title), quote(o.xlabel), quote(o.ylabel));
  if (o.log_y) script += "set logscale y\n";
  std::vector<std::string> plots;
  for (std::size_t i = 0; i < series.size(); ++i)
    plots.push_back(fmt::format("{} index {} with linespoints pt 7 ps 0.5 lw 2 dt {}{} title {}", quote(data.string()), i,
                                series[i].dashed ? 2 : 1, series[i].colour > 0 ? fmt::format(" lc {}", series[i].colour) : "",
                                quote(series[i].name)));
  script += "plot " + join(plots, ", \\\n  ") + "\n";
  FILE* pipe = ::popen("gnuplot 2>&1", "w");
  if (!pipe) {
    if (error) *error = "cannot start gnuplot";
    return false;
  }
  std::fputs(script.c_str(), pipe);
  int status = ::pclose(pipe);
  std::error_code ec;
  fs::remove(data, ec);
  if (status != 0 || !fs::exists(png)) {
    if (error) *error = "gnuplot failed (is gnuplot-nox installed? scripts/install-deps.sh installs it)";
    return false;
  }
  return true;
}

}  // namespace densemtl::report

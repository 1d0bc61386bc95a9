#include "densemtl/report/plots.h"

#include <algorithm>
#include <sys/statvfs.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <fstream>

#include <fmt/format.h>

#include "densemtl/core/strings.h"

namespace densemtl::report {

namespace {
// A gnuplot string constant: single quotes (no escapes inside), quotes doubled; a line break
// would end the command, so control characters become spaces.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += ' ';
    else out += c;
  }
  return out + "'";
}

// A label in a data file, read by `using ...:n with labels`: double-quoted, with the characters
// that would end it or the line removed.
std::string data_label(const std::string& s) {
  std::string out = "\"";
  for (char c : s)
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  return out + "\"";
}
std::string header(const fs::path& png, const PlotOptions& o) {
  std::string s = fmt::format("set terminal pngcairo size {},{} font 'sans,10'\nset output {}\n", o.width, o.height, quote(png.string()));
  s += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\nset grid\nset termoption noenhanced\n", quote(o.title),
                   quote(o.xlabel), quote(o.ylabel));
  if (o.log_x) s += "set logscale x\n";
  if (o.log_y) s += "set logscale y\n";
  return s;
}

bool run_gnuplot(const std::string& script, const fs::path& png, const std::vector<fs::path>& data, std::string* error) {
  std::error_code ec;
  fs::remove(png, ec);
  // gnuplot's messages (warnings about degenerate ranges included) go to a file, read on failure.
  fs::path messages = png;
  messages += ".log";
  std::string shell_quoted = "'";
  for (char c : messages.string()) shell_quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  shell_quoted += "'";
  FILE* pipe = ::popen(("gnuplot > " + shell_quoted + " 2>&1").c_str(), "w");
  if (!pipe) {
    if (error) *error = "cannot start gnuplot";
    return false;
  }
  std::fputs(script.c_str(), pipe);
  int status = ::pclose(pipe);
  for (const auto& d : data) fs::remove(d, ec);
  std::string said;
  if (fs::exists(messages, ec)) {
    std::ifstream in(messages);
    std::string line;
    while (std::getline(in, line))
      if (said.empty() && !line.empty() && line.find("Warning") == std::string::npos) said = line;
    fs::remove(messages, ec);
  }
  // An empty picture (the disk filled up, say) is removed, and the reason given is the disk's.
  if (fs::exists(png, ec) && fs::file_size(png, ec) == 0) {
    fs::remove(png, ec);
    struct statvfs disk {};
    const bool full = ::statvfs(png.parent_path().c_str(), &disk) == 0 && disk.f_bavail == 0;
    if (error) *error = png.string() + (full ? ": no space left on device" : ": gnuplot wrote an empty picture") + (said.empty() ? "" : " (" + said + ")");
    return false;
  }
  if (status != 0 || !fs::exists(png)) {
    if (error)
      *error = status == 127 * 256 || said.find("not found") != std::string::npos
                   ? "gnuplot is missing (scripts/install-deps.sh installs gnuplot-nox)"
                   : "gnuplot failed" + (said.empty() ? std::string() : ": " + said);
    return false;
  }
  return true;
}

// Series colour `index` (1-based) from a palette whose neighbours are told apart easily (matplotlib's
// tab10), cycling after ten.
std::string colour(int index) {
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return fmt::format(" lc rgb '{}'", palette[(index - 1) % 10]);
}

fs::path data_file(const fs::path& png, const std::string& suffix) {
  fs::create_directories(png.parent_path());
  fs::path data = png;
  data += suffix;
  return data;
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
  std::string script = header(png, o) + "set key outside right\n";
  std::vector<std::string> plots;
  for (std::size_t i = 0; i < series.size(); ++i)
    plots.push_back(fmt::format("{} index {} with linespoints pt 7 ps 0.5 lw 2 dt {}{} title {}", quote(data.string()), i,
                                series[i].dashed ? 2 : 1, series[i].colour > 0 ? colour(series[i].colour) : "",
                                quote(series[i].name)));
  script += "plot " + join(plots, ", \\\n  ") + "\n";
  return run_gnuplot(script, png, {data}, error);
}

bool line_panels(const fs::path& png, const std::vector<Panel>& panels, const PlotOptions& o, std::string* error) {
  if (panels.empty()) {
    if (error) *error = "nothing to plot";
    return false;
  }
  const fs::path data = data_file(png, ".dat");
  {
    std::ofstream out(data);
    for (const auto& p : panels)
      for (const auto& s : p.series) {
        for (std::size_t i = 0; i < s.x.size(); ++i) out << s.x[i] << " " << s.y[i] << "\n";
        out << "\n\n";
      }
  }
  PlotOptions page = o;
  page.height = o.height * static_cast<int>(panels.size());
  std::string script = header(png, page) + "set key outside right\nunset title\n";
  script += fmt::format("set multiplot layout {},1 title {}\n", panels.size(), quote(o.title));
  std::size_t index = 0;
  for (const auto& p : panels) {
    std::vector<std::string> plots;
    for (const auto& s : p.series)
      plots.push_back(fmt::format("{} index {} with linespoints pt 7 ps 0.5 lw 2 dt {}{} title {}", quote(data.string()), index++,
                                  s.dashed ? 2 : 1, s.colour > 0 ? colour(s.colour) : "", quote(s.name)));
    script += "set title " + quote(p.title) + "\nplot " + join(plots, ", \\\n  ") + "\n";
  }
  script += "unset multiplot\n";
  return run_gnuplot(script, png, {data}, error);
}

bool bar_plot(const fs::path& png, const std::vector<Point>& bars, const PlotOptions& o, std::string* error) {
  const fs::path data = data_file(png, ".dat");
  {
    std::ofstream out(data);
    for (std::size_t i = 0; i < bars.size(); ++i) out << i << " " << bars[i].y << " " << bars[i].err << "\n";
  }
  std::vector<std::string> tics;
  double lo = 0, hi = 0;  // the bars start at 0
  for (std::size_t i = 0; i < bars.size(); ++i) {
    tics.push_back(fmt::format("{} {}", quote(bars[i].label), i));
    lo = std::min(lo, bars[i].y - std::max(0.0, bars[i].err));
    hi = std::max(hi, bars[i].y + std::max(0.0, bars[i].err));
  }
  const double pad = 0.08 * std::max(hi - lo, 1e-9);
  std::string script = header(png, o) + "unset key\nset style fill solid 0.6 border -1\nset boxwidth 0.7\n";
  script += fmt::format("set xrange [-0.6:{}]\nset yrange [{}:{}]\nset xtics rotate by 45 right ({})\nset xzeroaxis lt -1\n",
                        bars.size() - 0.4, lo - pad, hi + pad, join(tics, ", "));
  script += fmt::format("plot {0} using 1:2 with boxes lc rgb '#4c72b0', {0} using 1:2:($3 > 0 ? $3 : 1/0) with yerrorbars "
                        "pt -1 lc rgb '#222222'\n",
                        quote(data.string()));
  return run_gnuplot(script, png, {data}, error);
}

}  // namespace densemtl::report

namespace densemtl::report {

bool scatter_plot(const fs::path& png, const std::vector<Point>& points, const PlotOptions& o, bool front, std::string* error) {
  const fs::path data = data_file(png, ".dat"), steps = data_file(png, ".front.dat");
  {
    std::ofstream out(data);
    for (const auto& p : points) out << p.x << " " << p.y << " " << p.err << " " << data_label(p.label) << "\n";
    std::ofstream f(steps);
    if (front) {
      std::vector<Point> sorted = points;
      std::sort(sorted.begin(), sorted.end(), [](const Point& a, const Point& b) { return a.x < b.x || (a.x == b.x && a.y > b.y); });
      double best = -std::numeric_limits<double>::infinity();
      for (const auto& p : sorted)
        if (p.y > best) {
          f << p.x << " " << p.y << "\n";
          best = p.y;
        }
    }
  }
  std::string script = header(png, o) + "set key top left\nset offsets graph 0.08, graph 0.25, graph 0.08, graph 0.08\n";
  std::vector<std::string> plots = {
      fmt::format("{} using 1:2:3 with yerrorbars pt 7 ps 0.8 lc rgb '#1f77b4' title 'mean, error bar = std over seeds'", quote(data.string())),
      fmt::format("{} using 1:2:4 with labels left offset 0.6,0.4 font ',8' notitle", quote(data.string()))};
  if (front) plots.push_back(fmt::format("{} using 1:2 with steps lw 1.5 dt 2 lc rgb '#d62728' title 'Pareto front'", quote(steps.string())));
  script += "plot " + join(plots, ", \\\n  ") + "\n";
  return run_gnuplot(script, png, {data, steps}, error);
}

bool pr_plot(const fs::path& png, const std::vector<PrCurve>& curves, const PlotOptions& o, std::string* error) {
  const fs::path data = data_file(png, ".dat"), iso = data_file(png, ".iso.dat");
  {
    std::ofstream out(data);
    for (const auto& c : curves) {
      for (std::size_t i = 0; i < c.recall.size(); ++i) out << c.recall[i] << " " << c.precision[i] << "\n";
      out << "\n\n" << c.ods_r << " " << c.ods_p << "\n\n\n";
    }
    // Iso-F contours: P = F R / (2R - F) for R in (F/2, 1].
    std::ofstream f(iso);
    for (int k = 1; k <= 9; ++k) {
      const double F = k / 10.0;
      for (int i = 0; i <= 200; ++i) {
        const double r = F / 2 + (1 - F / 2) * (i + 0.5) / 201.0;
        const double p = F * r / (2 * r - F);
        if (p <= 1.0) f << r << " " << p << "\n";
      }
      f << "\n";
    }
  }
  std::string script = header(png, o) + "set key outside right\nset xrange [0:1]\nset yrange [0:1]\nset size ratio -1\n";
  std::vector<std::string> plots = {fmt::format("{} with lines lc rgb '#bbbbbb' lw 1 title 'iso-F'", quote(iso.string()))};
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const std::string name = fmt::format("{} [F={:.3f}]", curves[i].name, curves[i].ods_f);
    const std::string lc = colour(static_cast<int>(i) + 1);
    plots.push_back(fmt::format("{} index {} with lines lw 2{} title {}", quote(data.string()), 2 * i, lc, quote(name)));
    plots.push_back(fmt::format("{} index {} with points pt 7 ps 1.2{} notitle", quote(data.string()), 2 * i + 1, lc));
  }
  script += "plot " + join(plots, ", \\\n  ") + "\n";
  return run_gnuplot(script, png, {data, iso}, error);
}

bool heatmap(const fs::path& png, const std::vector<std::string>& rows, const std::vector<std::string>& columns,
             const std::vector<std::vector<double>>& values, const PlotOptions& o, std::string* error) {
  const fs::path data = data_file(png, ".dat");
  {
    std::ofstream out(data);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::size_t c = 0; c < columns.size(); ++c) {
        const double v = values[r][c];
        out << c << " " << r << " " << (std::isnan(v) ? std::string("NaN") : fmt::format("{}", v)) << "\n";
      }
      out << "\n";
    }
  }
  std::string script = header(png, o) + "unset grid\nunset key\nset palette defined (0 '#ffffff', 50 '#9ecae1', 100 '#08519c')\n";
  script += fmt::format("set cbrange [0:100]\nset xrange [-0.5:{}]\nset yrange [{}:-0.5]\nset xtics rotate by 45 right\n",
                        columns.size() - 0.5, rows.size() - 0.5);
  std::vector<std::string> xt, yt;
  for (std::size_t c = 0; c < columns.size(); ++c) xt.push_back(fmt::format("{} {}", quote(columns[c]), c));
  for (std::size_t r = 0; r < rows.size(); ++r) yt.push_back(fmt::format("{} {}", quote(rows[r]), r));
  script += "set xtics (" + join(xt, ", ") + ")\nset ytics (" + join(yt, ", ") + ")\n";
  script += fmt::format("plot {0} using 1:2:3 with image, {0} using 1:2:(($3==$3) ? sprintf('%.0f', $3) : '') with labels font ',7'\n",
                        quote(data.string()));
  return run_gnuplot(script, png, {data}, error);
}

}  // namespace densemtl::report

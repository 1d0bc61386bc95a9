#include "densemtl/data/summary.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/strings.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

DatasetReport describe(const Dataset& dataset, bool check, int threads, int sample_limit) {
  const DatasetInfo& info = dataset.info();
  DatasetReport r;
  r.json["name"] = info.name;
  r.json["format"] = format_name(info.format);
  r.json["root"] = info.root.string();
  std::string text = fmt::format("dataset: {} ({} layout) at {}\n", info.name, format_name(info.format), info.root.string());

  // Splits.
  std::vector<std::pair<std::string, std::vector<std::string>>> splits;
  std::vector<std::string> split_text;
  for (const auto& name : info.splits) {
    try {
      auto ids = dataset.ids(name);
      std::set<std::string> unique(ids.begin(), ids.end());
      if (unique.size() != ids.size())
        r.problems.push_back(fmt::format("split {}: {} duplicate ids", name, ids.size() - unique.size()));
      split_text.push_back(fmt::format("{} {}", name, ids.size()));
      r.json["splits"][name] = ids.size();
      splits.emplace_back(name, std::move(ids));
    } catch (const Error& e) {
      r.problems.push_back(e.what());
      split_text.push_back(fmt::format("{} (unreadable)", name));
    }
  }
  text += "splits: " + join(split_text, ", ") + "\n";

  // Tasks.
  std::vector<std::string> task_text;
  for (const auto& t : info.tasks) {
    int ch = tasks::get(t).output_channels(info);
    if (t == "semseg") task_text.push_back(fmt::format("semseg ({} classes)", ch));
    else if (t == "human_parts") task_text.push_back(fmt::format("human_parts ({} parts + background)", ch - 1));
    else task_text.push_back(t);
  }
  r.json["tasks"] = info.tasks;
  text += "tasks: " + (info.tasks.empty() ? std::string("none") : join(task_text, ", ")) + "\n";

  // Which samples to read.
  std::vector<std::string> chosen;
  if (check) {
    for (const auto& [name, ids] : splits) chosen.insert(chosen.end(), ids.begin(), ids.end());
  } else if (!splits.empty()) {
    const auto* pick = &splits.front();
    for (const auto& s : splits)
      if (s.first == "train") pick = &s;
    const auto& ids = pick->second;
    std::size_t n = std::min<std::size_t>(ids.size(), static_cast<std::size_t>(sample_limit));
    for (std::size_t i = 0; i < n; ++i) chosen.push_back(ids[i * ids.size() / n]);
  }

  const bool has_semseg = std::find(info.tasks.begin(), info.tasks.end(), "semseg") != info.tasks.end();
  const std::size_t classes = info.class_names.size();
  std::vector<double> pixels(classes, 0.0), images_with(classes, 0.0);
  double labelled = 0;
  std::set<std::pair<int, int>> sizes;
  std::mutex mutex;
  std::vector<std::string> bad;
  std::unique_ptr<ProgressBar> bar;
  if (check) bar = std::make_unique<ProgressBar>("check", static_cast<std::int64_t>(chosen.size()), "img");
  parallel_for(chosen.size(), threads, [&](std::size_t i) {
    const std::string& id = chosen[i];
    try {
      Sample s = dataset.load(id, check ? std::vector<std::string>{} : std::vector<std::string>(has_semseg ? 1 : 0, "semseg"));
      std::vector<double> px(classes, 0.0);
      double n = 0;
      if (s.has("semseg")) {
        const cv::Mat& l = s.labels.at("semseg");
        for (int y = 0; y < l.rows; ++y)
          for (int x = 0; x < l.cols; ++x) {
            int c = static_cast<int>(l.at<float>(y, x));
            if (c >= 0 && static_cast<std::size_t>(c) < classes) {
              px[static_cast<std::size_t>(c)] += 1;
              n += 1;
            }
          }
      }
      std::lock_guard<std::mutex> lock(mutex);
      sizes.insert({s.image.rows, s.image.cols});
      for (std::size_t c = 0; c < classes; ++c) {
        pixels[c] += px[c];
        if (px[c] > 0) images_with[c] += 1;
      }
      labelled += n;
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(mutex);
      bad.push_back(fmt::format("{}: {}", id, e.what()));
    }
    if (bar) bar->advance();
  });
  if (bar) bar->finish();
  std::sort(bad.begin(), bad.end());
  r.problems.insert(r.problems.end(), bad.begin(), bad.end());

  if (sizes.size() == 1) {
    text += fmt::format("image size: {}x{}\n", sizes.begin()->first, sizes.begin()->second);
    r.json["image_size"] = {sizes.begin()->first, sizes.begin()->second};
  } else if (!sizes.empty()) {
    text += fmt::format("image sizes: {} different (first {}x{})\n", sizes.size(), sizes.begin()->first, sizes.begin()->second);
  }
  std::size_t read_ok = chosen.size() - bad.size();
  if (has_semseg && labelled > 0) {
    text += fmt::format("class shares (from {} images{}):\n", read_ok, check ? "" : ", a sample");
    text += fmt::format("  {:<16} {:>9} {:>12}\n", "class", "% pixels", "% of images");
    for (std::size_t c = 0; c < classes; ++c) {
      double share = pixels[c] / labelled, img = images_with[c] / static_cast<double>(read_ok);
      text += fmt::format("  {:<16} {:>9.2f} {:>12.1f}\n", info.class_names[c], 100 * share, 100 * img);
      r.json["class_shares"][info.class_names[c]] = {{"pixels", share}, {"images", img}};
    }
  }
  if (check) {
    r.json["checked"] = chosen.size();
    r.json["bad"] = r.problems;
    text += r.problems.empty() ? fmt::format("check: all {} samples read without error\n", chosen.size())
                               : fmt::format("check: {} problem(s) in {} samples:\n", r.problems.size(), chosen.size());
    for (const auto& p : r.problems) text += "  " + p + "\n";
  } else {
    for (const auto& p : r.problems) text += "problem: " + p + "\n";
  }
  r.text = text;
  return r;
}

}  // namespace densemtl::data

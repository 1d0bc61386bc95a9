#include "densemtl/data/summary.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/strings.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

namespace {

using Splits = std::vector<std::pair<std::string, std::vector<std::string>>>;

// Every split's ids (a duplicate id or an unreadable split is a problem).
Splits read_splits(const Dataset& dataset, DatasetReport& r, std::string& text) {
  Splits splits;
  std::vector<std::string> split_text;
  for (const auto& name : dataset.info().splits) {
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
  return splits;
}

// Label coverage per split and task (partially labelled data).
void describe_coverage(const Dataset& dataset, const Splits& splits, DatasetReport& r, std::string& text) {
  bool partial = false;
  std::string coverage_text;
  for (const auto& [name, ids] : splits) {
    std::vector<std::string> parts;
    for (const auto& t : dataset.info().tasks) {
      std::size_t n = 0;
      for (const auto& id : ids) n += dataset.labelled(id, t) ? 1 : 0;
      r.json["labelled"][name][t] = n;
      if (n != ids.size()) partial = true;
      parts.push_back(n == ids.size() ? fmt::format("{} all", t)
                                      : fmt::format("{} {}/{} ({:.1f}%)", t, n, ids.size(), ids.empty() ? 0.0 : 100.0 * n / ids.size()));
    }
    coverage_text += fmt::format("  {:<6} {}\n", name, join(parts, ", "));
  }
  text += partial ? "labelled images per split (partially labelled):\n" + coverage_text : "labels: every task on every image\n";
}

// The samples to read: every one when checking, else up to `limit` spread over the training split.
std::vector<std::string> samples_to_read(const Splits& splits, bool check, int limit) {
  std::vector<std::string> chosen;
  if (check) {
    for (const auto& [name, ids] : splits) chosen.insert(chosen.end(), ids.begin(), ids.end());
  } else if (!splits.empty()) {
    const auto* pick = &splits.front();
    for (const auto& s : splits)
      if (s.first == "train") pick = &s;
    const auto& ids = pick->second;
    std::size_t n = std::min<std::size_t>(ids.size(), static_cast<std::size_t>(limit));
    for (std::size_t i = 0; i < n; ++i) chosen.push_back(ids[i * ids.size() / n]);
  }
  return chosen;
}

// Class shares of one class-map task (semantic classes, human parts).
struct Shares {
  std::string task;
  std::vector<std::string> names;
  std::vector<double> pixels, images_with;
  double labelled = 0;  // labelled pixels
  double images = 0;    // images with a label for the task
};

// What reading the chosen samples found: class shares, image sizes, unreadable samples.
struct SampleStats {
  std::vector<Shares> shares;
  std::set<std::pair<int, int>> sizes;
  std::vector<std::string> bad;
  std::map<std::string, std::pair<std::size_t, std::size_t>> valid;  // task -> (labels read, labels with a valid pixel)
  std::mutex mutex;

  void add(const Sample& s) {
    std::map<std::string, bool> any_valid;
    for (const auto& [t, label] : s.labels) {
      cv::Mat marked = label.clone();
      tasks::get(t).mark_ignore(marked);
      cv::Mat flat = marked.reshape(1);
      any_valid[t] = cv::countNonZero(flat != tasks::Task::kIgnore) > 0;
    }
    std::vector<std::vector<double>> px;
    std::vector<double> n(shares.size(), 0.0), has(shares.size(), 0.0);
    for (std::size_t k = 0; k < shares.size(); ++k) {
      px.emplace_back(shares[k].names.size(), 0.0);
      auto it = s.labels.find(shares[k].task);
      if (it == s.labels.end()) continue;
      has[k] = 1;
      const cv::Mat& l = it->second;
      for (int y = 0; y < l.rows; ++y)
        for (int x = 0; x < l.cols; ++x) {
          int c = static_cast<int>(l.at<float>(y, x));
          if (c >= 0 && static_cast<std::size_t>(c) < px[k].size()) {
            px[k][static_cast<std::size_t>(c)] += 1;
            n[k] += 1;
          }
        }
    }
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [t, ok] : any_valid) {
      ++valid[t].first;
      valid[t].second += ok ? 1 : 0;
    }
    sizes.insert({s.image.rows, s.image.cols});
    for (std::size_t k = 0; k < shares.size(); ++k) {
      for (std::size_t c = 0; c < px[k].size(); ++c) {
        shares[k].pixels[c] += px[k][c];
        if (px[k][c] > 0) shares[k].images_with[c] += 1;
      }
      shares[k].labelled += n[k];
      shares[k].images += has[k];
    }
  }
};

void read_samples(const Dataset& dataset, const std::vector<std::string>& chosen, bool check, int threads, SampleStats& stats) {
  const DatasetInfo& info = dataset.info();
  for (const auto& t : info.tasks) {
    std::vector<std::string> names = tasks::get(t).class_names(info);
    if (!names.empty())
      stats.shares.push_back({t, names, std::vector<double>(names.size(), 0.0), std::vector<double>(names.size(), 0.0), 0, 0});
  }
  std::vector<std::string> share_tasks;
  for (const auto& sh : stats.shares) share_tasks.push_back(sh.task);
  std::unique_ptr<ProgressBar> bar;
  if (check) bar = std::make_unique<ProgressBar>("check", static_cast<std::int64_t>(chosen.size()), "img");
  parallel_for(chosen.size(), threads, [&](std::size_t i) {
    const std::string& id = chosen[i];
    try {
      stats.add(dataset.load(id, check ? std::vector<std::string>{} : share_tasks));
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(stats.mutex);
      stats.bad.push_back(fmt::format("{}: {}", id, e.what()));
    }
    if (bar) bar->advance();
  });
  if (bar) bar->finish();
  std::sort(stats.bad.begin(), stats.bad.end());
}

void describe_samples(const SampleStats& stats, bool check, DatasetReport& r, std::string& text) {
  const auto& sizes = stats.sizes;
  if (sizes.size() == 1) {
    text += fmt::format("image size: {}x{}\n", sizes.begin()->first, sizes.begin()->second);
    r.json["image_size"] = {sizes.begin()->first, sizes.begin()->second};
  } else if (!sizes.empty()) {
    text += fmt::format("image sizes: {} different (first {}x{})\n", sizes.size(), sizes.begin()->first, sizes.begin()->second);
  }
  for (const auto& sh : stats.shares) {
    if (sh.labelled <= 0) continue;
    text += fmt::format("{} class shares (from {} labelled images{}):\n", sh.task, sh.images, check ? "" : ", a sample");
    text += fmt::format("  {:<16} {:>9} {:>12}\n", "class", "% pixels", "% of images");
    for (std::size_t c = 0; c < sh.names.size(); ++c) {
      double share = sh.pixels[c] / sh.labelled, img = sh.images_with[c] / sh.images;
      text += fmt::format("  {:<16} {:>9.2f} {:>12.1f}\n", sh.names[c], 100 * share, 100 * img);
      r.json["class_shares"][sh.task][sh.names[c]] = {{"pixels", share}, {"images", img}};
    }
  }
}

}  // namespace

DatasetReport describe(const Dataset& dataset, bool check, int threads, int sample_limit) {
  const DatasetInfo& info = dataset.info();
  DatasetReport r;
  r.json["name"] = info.name;
  r.json["format"] = format_name(info.format);
  r.json["root"] = info.root.string();
  std::string text = fmt::format("dataset: {} ({} layout) at {}\n", info.name, format_name(info.format), info.root.string());
  const Splits splits = read_splits(dataset, r, text);
  std::vector<std::string> task_text;
  for (const auto& t : info.tasks) task_text.push_back(tasks::get(t).describe(info));
  r.json["tasks"] = info.tasks;
  text += "tasks: " + (info.tasks.empty() ? std::string("none") : join(task_text, ", ")) + "\n";
  describe_coverage(dataset, splits, r, text);
  const std::vector<std::string> chosen = samples_to_read(splits, check, sample_limit);
  SampleStats stats;
  read_samples(dataset, chosen, check, threads, stats);
  r.problems.insert(r.problems.end(), stats.bad.begin(), stats.bad.end());
  // A task whose every label read is invalid everywhere (depth 0 throughout) trains on nothing.
  for (const auto& [t, counts] : stats.valid)
    if (check && counts.first > 0 && counts.second == 0)
      r.problems.push_back(fmt::format("task {}: none of its {} labels has a valid pixel (every value invalid or ignored)", t, counts.first));
  describe_samples(stats, check, r, text);
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

#include "densemtl/eval/trivial.h"

#include <cmath>

#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::eval {

OrderedJson trivial_baseline(const data::Dataset& dataset, const std::vector<std::string>& train_ids,
                             const std::vector<std::string>& eval_ids, const std::vector<std::string>& task_names,
                             const MetricOptions& options, std::size_t max_train_images) {
  // Statistics over (up to max_train_images, evenly spread) training images.
  std::map<std::string, std::vector<double>> class_counts;
  double depth_sum = 0, depth_n = 0, sal_pos = 0, sal_n = 0;
  cv::Vec3d normal_sum(0, 0, 0);
  std::size_t n = std::min(train_ids.size(), max_train_images);
  for (std::size_t i = 0; i < n; ++i) {
    data::Sample s = dataset.load(train_ids[i * train_ids.size() / n], task_names);
    for (const auto& [task, label] : s.labels) {
      if (task == "semseg" || task == "human_parts") {
        auto& counts = class_counts[task];
        for (int y = 0; y < label.rows; ++y)
          for (int x = 0; x < label.cols; ++x) {
            int c = static_cast<int>(label.at<float>(y, x));
            if (c == 255 || c < 0) continue;
            if (static_cast<std::size_t>(c) >= counts.size()) counts.resize(static_cast<std::size_t>(c) + 1, 0.0);
            counts[static_cast<std::size_t>(c)] += 1;
          }
      } else if (task == "depth") {
        cv::Mat valid = label > 0;
        depth_sum += cv::sum(label)[0];
        depth_n += cv::countNonZero(valid);
      } else if (task == "normals") {
        cv::Scalar sum = cv::sum(label);
        normal_sum += cv::Vec3d(sum[0], sum[1], sum[2]);
      } else if (task == "sal") {
        sal_pos += cv::countNonZero(label > 0.5);
        sal_n += static_cast<double>(label.total());
      }
    }
  }
  auto majority = [&](const std::string& task) {
    const auto& c = class_counts[task];
    return c.empty() ? 0 : static_cast<int>(std::max_element(c.begin(), c.end()) - c.begin());
  };
  cv::Vec3d mean_normal = normal_sum / std::max(1e-12, cv::norm(normal_sum));
  double mean_depth = depth_n > 0 ? depth_sum / depth_n : 1.0;

  std::map<std::string, std::unique_ptr<Metric>> metrics;
  for (const auto& t : task_names) {
    MetricOptions o = options;
    if (t == "human_parts") o.class_names = dataset.info().part_names;
    metrics[t] = tasks::get(t).make_metric(o);
  }
  for (const auto& id : eval_ids) {
    data::Sample s = dataset.load(id, task_names);
    const cv::Size size = s.image.size();
    for (const auto& [task, train_label] : s.labels) {
      if (!metrics[task]) continue;
      const cv::Mat& label = *s.ground_truth(task);
      cv::Mat pred;
      if (task == "semseg" || task == "human_parts") {
        pred = cv::Mat(size, CV_8U, cv::Scalar(majority(task)));
      } else if (task == "depth") {
        pred = cv::Mat(size, CV_32F, cv::Scalar(mean_depth));
      } else if (task == "normals") {
        cv::Mat v(size, CV_32FC3, cv::Scalar((mean_normal[0] + 1) * 127.5, (mean_normal[1] + 1) * 127.5, (mean_normal[2] + 1) * 127.5));
        pred = tasks::truncate_to_u8(v);
      } else if (task == "sal") {
        pred = cv::Mat(size, CV_8U, cv::Scalar(sal_pos * 2 > sal_n ? 255 : 0));
      } else {
        pred = cv::Mat::zeros(size, CV_8U);
      }
      metrics[task]->update(pred, label);
    }
  }
  OrderedJson out = OrderedJson::object();
  for (const auto& t : task_names)
    if (metrics[t]) out[t] = metrics[t]->result();
  return out;
}

}  // namespace densemtl::eval

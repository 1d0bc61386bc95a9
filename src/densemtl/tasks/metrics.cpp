#include <cmath>
#include <vector>

#include "densemtl/core/collective.h"
#include "densemtl/core/error.h"
#include "densemtl/tasks/metric.h"

namespace densemtl::tasks {

namespace {

void require_same_size(const cv::Mat& a, const cv::Mat& b, const char* what) {
  if (a.size() != b.size())
    fail("{} prediction is {}x{}, its ground truth {}x{}", what, a.rows, a.cols, b.rows, b.cols);
}

// Appends `v` to a state vector, and reads it back.
// An accumulator's state: its count vectors and scalar sums and counts, flattened in order;
// merging adds another shard's state field by field.
template <typename T>
void put(std::vector<double>& out, const std::vector<T>& v) {
  for (const auto& x : v) out.push_back(static_cast<double>(x));
}
template <typename T>
void put(std::vector<double>& out, const T& x) {
  out.push_back(static_cast<double>(x));
}
void check_length(const std::vector<double>& state, std::size_t end) {
  if (end > state.size()) fail("internal: a metric state of {} values is too short", state.size());
}
template <typename T>
void add(std::vector<T>& to, const std::vector<double>& state, std::size_t& at) {
  check_length(state, at + to.size());
  for (auto& x : to) x += static_cast<T>(state[at++]);
}
template <typename T>
void add(T& to, const std::vector<double>& state, std::size_t& at) {
  check_length(state, at + 1);
  to += static_cast<T>(state[at++]);
}
template <typename... F>
std::vector<double> fields_state(const F&... fields) {
  std::vector<double> out;
  (put(out, fields), ...);
  return out;
}
template <typename... F>
void merge_fields(const std::vector<double>& state, F&... fields) {
  std::size_t at = 0;
  (add(fields, state, at), ...);
  if (at != state.size()) fail("internal: a metric state of {} values, {} expected", state.size(), at);
}

double round_to(double v, int digits) {
  double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

class Miou : public Metric {
 public:
  Miou(const std::vector<std::string>& class_names, bool skip_empty_images)
      : names_(class_names), skip_(skip_empty_images), tp_(class_names.size(), 0), fp_(tp_), fn_(tp_) {}

  void update(const cv::Mat& pred, const cv::Mat& label) override {
    require_same_size(pred, label, "segmentation");
    cv::Mat p, l;
    pred.convertTo(p, CV_32S);
    label.convertTo(l, CV_32S);
    if (skip_) {
      // Images whose ground truth is all background or all ignore carry no part information.
      if (cv::countNonZero(l) == 0 || cv::countNonZero(l != 255) == 0) return;
    }
    const int n = static_cast<int>(tp_.size());
    for (int y = 0; y < l.rows; ++y) {
      const int* pr = p.ptr<int>(y);
      const int* gt = l.ptr<int>(y);
      for (int x = 0; x < l.cols; ++x) {
        int g = gt[x], q = pr[x];
        if (q < 0 || q >= n) fail("predicted class {} out of range ({} classes)", q, n);
        if (g == 255) continue;
        if (g < 0 || g >= n) fail("ground-truth class {} out of range ({} classes)", g, n);
        if (q == g) {
          ++tp_[static_cast<std::size_t>(g)];
        } else {
          ++fn_[static_cast<std::size_t>(g)];
          ++fp_[static_cast<std::size_t>(q)];
        }
      }
    }
    ++images_;
  }

  OrderedJson result() const override {
    OrderedJson per_class = OrderedJson::object();
    double sum = 0;
    for (std::size_t c = 0; c < tp_.size(); ++c) {
      double denom = std::max<double>(static_cast<double>(tp_[c] + fp_[c] + fn_[c]), 1e-8);
      double iou = static_cast<double>(tp_[c]) / denom;
      sum += iou;
      per_class[names_[c]] = round_to(100 * iou, 4);
    }
    OrderedJson r;
    // No labelled pixel: no metric (null).
    std::int64_t labelled = 0;
    for (std::size_t c = 0; c < tp_.size(); ++c) labelled += tp_[c] + fn_[c];
    r["mIoU"] = labelled > 0 ? OrderedJson(round_to(100 * sum / static_cast<double>(std::max<std::size_t>(1, tp_.size())), 4)) : OrderedJson(nullptr);
    r["per_class_IoU"] = per_class;
    r["images"] = images_;
    return r;
  }
  std::size_t images() const override { return images_; }
  std::vector<double> state() const override { return fields_state(tp_, fp_, fn_, images_); }
  void merge(const std::vector<double>& state) override { merge_fields(state, tp_, fp_, fn_, images_); }

 private:
  std::vector<std::string> names_;
  bool skip_;
  std::vector<std::int64_t> tp_, fp_, fn_;
  std::size_t images_ = 0;
};

class Saliency : public Metric {
 public:
  Saliency() : j_(15, 0.0), p_(15, 0.0), r_(15, 0.0) {}

  void update(const cv::Mat& pred, const cv::Mat& label) override {
    require_same_size(pred, label, "saliency");
    cv::Mat p, g;
    pred.convertTo(p, CV_32F, 1.0 / 255);
    g = label > 0.5;
    for (int t = 0; t < 15; ++t) {
      double tau = 0.2 + 0.05 * t;
      cv::Mat m = p > tau;
      double tp = cv::countNonZero(m & g), fp = cv::countNonZero(m & ~g), fn = cv::countNonZero(~m & g);
      double uni = tp + fp + fn;
      j_[static_cast<std::size_t>(t)] += uni == 0 ? 1.0 : tp / uni;
      p_[static_cast<std::size_t>(t)] += tp / (tp + fp + 1e-12);
      r_[static_cast<std::size_t>(t)] += tp / (tp + fn + 1e-12);
    }
    ++images_;
  }

  OrderedJson result() const override {
    double n = static_cast<double>(std::max<std::size_t>(1, images_));
    double best_j = 0, best_f = 0;
    for (int t = 0; t < 15; ++t) {
      double mj = j_[static_cast<std::size_t>(t)] / n, mp = p_[static_cast<std::size_t>(t)] / n, mr = r_[static_cast<std::size_t>(t)] / n;
      double f = 2 * mp * mr / (mp + mr + 1e-12);
      best_j = std::max(best_j, mj);
      best_f = std::max(best_f, f);
    }
    OrderedJson r;
    r["maxF"] = round_to(100 * best_f, 4);
    r["mIoU"] = round_to(100 * best_j, 4);
    r["images"] = images_;
    return r;
  }
  std::size_t images() const override { return images_; }
  std::vector<double> state() const override { return fields_state(j_, p_, r_, images_); }
  void merge(const std::vector<double>& state) override { merge_fields(state, j_, p_, r_, images_); }

 private:
  std::vector<double> j_, p_, r_;
  std::size_t images_ = 0;
};

class Normals : public Metric {
 public:
  Normals() : hist_(static_cast<std::size_t>(180.0 / kAngleBin) + 1, 0) {}

  void update(const cv::Mat& pred, const cv::Mat& label) override {
    require_same_size(pred, label, "normals");
    if (pred.type() != CV_8UC3) fail("normals prediction must be an RGB image");
    bool any = false;
    for (int y = 0; y < label.rows; ++y) {
      const auto* g = label.ptr<cv::Vec3f>(y);
      const auto* p = pred.ptr<cv::Vec3b>(y);
      for (int x = 0; x < label.cols; ++x) {
        cv::Vec3d n(g[x][0], g[x][1], g[x][2]);
        double gl = std::sqrt(n.dot(n));
        if (gl == 0.0) continue;
        any = true;
        cv::Vec3d q(2.0 * p[x][0] / 255.0 - 1.0, 2.0 * p[x][1] / 255.0 - 1.0, 2.0 * p[x][2] / 255.0 - 1.0);
        double ql = std::sqrt(q.dot(q));
        double c = ql > 0 ? q.dot(n) / (ql * gl) : 0.0;
        double deg = std::acos(std::clamp(c, -1.0, 1.0)) * 180.0 / M_PI;
        sum_ += deg;
        sum_sq_ += deg * deg;
        ++count_;
        below_[0] += deg < 11.25;
        below_[1] += deg < 22.5;
        below_[2] += deg < 30.0;
        ++hist_[static_cast<std::size_t>(deg / kAngleBin)];
      }
    }
    if (any) ++images_;
  }

  OrderedJson result() const override {
    double n = static_cast<double>(std::max<std::int64_t>(1, count_));
    // Median (numpy's: the mean of the two middle values for an even count) from the histogram,
    // each value placed inside its bin.
    double median = 0;
    if (count_ > 0) median = count_ % 2 ? at_rank(count_ / 2 + 1) : 0.5 * (at_rank(count_ / 2) + at_rank(count_ / 2 + 1));
    OrderedJson r;
    // No valid pixel: no metric (null), not a perfect 0°.
    auto value = [&](double v) { return count_ > 0 ? OrderedJson(v) : OrderedJson(nullptr); };
    r["mean"] = value(round_to(sum_ / n, 4));
    r["median"] = value(round_to(median, 3));
    r["rmse"] = value(round_to(std::sqrt(sum_sq_ / n), 4));
    r["11.25"] = value(round_to(100.0 * static_cast<double>(below_[0]) / n, 4));
    r["22.5"] = value(round_to(100.0 * static_cast<double>(below_[1]) / n, 4));
    r["30"] = value(round_to(100.0 * static_cast<double>(below_[2]) / n, 4));
    r["pixels"] = count_;
    r["images"] = images_;
    return r;
  }
  std::size_t images() const override { return images_; }
  std::vector<double> state() const override {
    return fields_state(sum_, sum_sq_, count_, below_[0], below_[1], below_[2], hist_, images_);
  }
  void merge(const std::vector<double>& state) override {
    merge_fields(state, sum_, sum_sq_, count_, below_[0], below_[1], below_[2], hist_, images_);
  }

 private:
  // The k-th smallest error (1-based), within one histogram bin.
  double at_rank(std::int64_t k) const {
    std::int64_t seen = 0;
    for (std::size_t b = 0; b < hist_.size(); ++b) {
      if (seen + hist_[b] >= k) {
        double within = (static_cast<double>(k - seen) - 0.5) / static_cast<double>(hist_[b]);
        return (static_cast<double>(b) + within) * kAngleBin;
      }
      seen += hist_[b];
    }
    return 180.0;
  }
  std::vector<std::int64_t> hist_;
  double sum_ = 0, sum_sq_ = 0;
  std::int64_t count_ = 0, below_[3] = {0, 0, 0};
  std::size_t images_ = 0;
};

class Depth : public Metric {
 public:
  void update(const cv::Mat& pred, const cv::Mat& label) override {
    require_same_size(pred, label, "depth");
    bool any = false;
    for (int y = 0; y < label.rows; ++y) {
      const float* g = label.ptr<float>(y);
      const float* p = pred.ptr<float>(y);
      for (int x = 0; x < label.cols; ++x) {
        if (g[x] == 0.0f || !std::isfinite(g[x])) continue;
        any = true;
        double q = std::max(static_cast<double>(p[x]), 1e-9);
        if (!std::isfinite(q)) fail("depth prediction is not finite");
        double d = g[x] - q;
        se_ += d * d;
        double l = std::log(static_cast<double>(g[x])) - std::log(q);
        sle_ += l * l;
        if (std::max(g[x] / q, q / g[x]) < 1.25) ++within_;
        ++count_;
      }
    }
    if (any) ++images_;
  }

  OrderedJson result() const override {
    double n = static_cast<double>(std::max<std::int64_t>(1, count_));
    OrderedJson r;
    // No valid pixel: no metric (null), not a perfect RMSE of 0.
    auto value = [&](double v) { return count_ > 0 ? OrderedJson(v) : OrderedJson(nullptr); };
    r["rmse"] = value(round_to(std::sqrt(se_ / n), 6));
    r["log_rmse"] = value(round_to(std::sqrt(sle_ / n), 6));
    r["delta1"] = value(round_to(100.0 * static_cast<double>(within_) / n, 4));
    r["pixels"] = count_;
    r["images"] = images_;
    return r;
  }
  std::size_t images() const override { return images_; }
  std::vector<double> state() const override { return fields_state(se_, sle_, count_, within_, images_); }
  void merge(const std::vector<double>& state) override { merge_fields(state, se_, sle_, count_, within_, images_); }

 private:
  double se_ = 0, sle_ = 0;
  std::int64_t count_ = 0, within_ = 0;
  std::size_t images_ = 0;
};

}  // namespace

std::unique_ptr<Metric> make_miou_metric(const std::vector<std::string>& class_names, bool skip_empty_images) {
  return std::make_unique<Miou>(class_names, skip_empty_images);
}
std::unique_ptr<Metric> make_saliency_metric() { return std::make_unique<Saliency>(); }
std::unique_ptr<Metric> make_normals_metric() { return std::make_unique<Normals>(); }
std::unique_ptr<Metric> make_depth_metric() { return std::make_unique<Depth>(); }

void merge_over_processes(Metric& metric) {
  if (!world() || world()->size() == 1) return;
  std::vector<std::vector<double>> states = all_gather_values(metric.state());
  for (std::size_t r = 0; r < states.size(); ++r)
    if (static_cast<int>(r) != world()->rank()) metric.merge(states[r]);
}

}  // namespace densemtl::tasks

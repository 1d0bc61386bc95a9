// The boundary metric of the edge task: odsF, oisF and AP (in percent), computed natively.
// Images are queued and scored by worker threads (bounded queue), so evaluation overlaps with
// the network and uses every core.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "densemtl/core/error.h"
#include "densemtl/core/parallel.h"
#include "densemtl/vision/boundary_match.h"
#include "densemtl/tasks/metric.h"

namespace densemtl::tasks {

namespace {

class BoundaryMetric : public Metric {
 public:
  explicit BoundaryMetric(const BoundaryMetricOptions& o)
      : thresholds_(vision::boundary::thresholds(o.thresholds)), max_dist_(o.max_dist),
        threads_(o.threads > 0 ? o.threads : default_threads()) {}

  ~BoundaryMetric() override { stop(); }

  void update(const cv::Mat& prediction, const cv::Mat& label) override {
    if (prediction.size() != label.size())
      fail("boundary prediction is {}x{}, its ground truth {}x{}", prediction.rows, prediction.cols, label.rows, label.cols);
    if (prediction.type() != CV_8U) fail("boundary predictions must be 8-bit (0..255)");
    cv::Mat gt;
    label.convertTo(gt, CV_8U);
    std::unique_lock<std::mutex> lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    if (workers_.empty())
      for (int t = 0; t < threads_; ++t) workers_.emplace_back([this] { work(); });
    space_.wait(lock, [&] { return queue_.size() < static_cast<std::size_t>(2 * threads_); });
    queue_.push_back({prediction.clone(), gt});
    ++images_;
    ready_.notify_one();
  }

  OrderedJson result() const override {
    const_cast<BoundaryMetric*>(this)->stop();
    if (error_) std::rethrow_exception(error_);
    vision::boundary::Summary s = vision::boundary::aggregate(counts_, thresholds_);
    auto pct = [](double v) { return std::round(v * 1e6) / 1e4; };
    OrderedJson r;
    r["odsF"] = pct(s.ods_f);
    r["oisF"] = pct(s.ois_f);
    r["AP"] = pct(s.ap);
    r["odsP"] = pct(s.ods_p);
    r["odsR"] = pct(s.ods_r);
    r["odsT"] = s.ods_t;
    r["max_dist"] = max_dist_;
    r["thresholds"] = thresholds_.size();
    r["images"] = images_;
    // The precision-recall curve (fractions) at each threshold, for BSDS-style plots.
    auto round4 = [](std::vector<double> v) {
      for (auto& x : v) x = std::round(x * 1e4) / 1e4;
      return v;
    };
    r["curve"]["threshold"] = round4(thresholds_);
    r["curve"]["recall"] = round4(s.recall);
    r["curve"]["precision"] = round4(s.precision);
    return r;
  }
  std::size_t images() const override { return images_; }
  // Per image, per threshold: cnt_r, sum_r, cnt_p, sum_p (OIS needs each image's own curve).
  std::vector<double> state() const override {
    const_cast<BoundaryMetric*>(this)->stop();
    if (error_) std::rethrow_exception(error_);
    std::vector<double> out{static_cast<double>(images_)};
    for (const auto& image : counts_)
      for (const auto& c : image)
        for (auto v : {c.cnt_r, c.sum_r, c.cnt_p, c.sum_p}) out.push_back(static_cast<double>(v));
    return out;
  }
  void merge(const std::vector<double>& state) override {
    stop();
    const std::size_t per_image = 4 * thresholds_.size();
    if (state.empty() || (state.size() - 1) % per_image != 0)
      fail("internal: a boundary metric state of {} values for {} thresholds", state.size(), thresholds_.size());
    images_ += static_cast<std::size_t>(state[0]);
    for (std::size_t at = 1; at < state.size(); at += per_image) {
      std::vector<vision::boundary::Counts> image(thresholds_.size());
      for (std::size_t t = 0; t < image.size(); ++t) {
        const double* v = &state[at + 4 * t];
        image[t] = {static_cast<std::int64_t>(v[0]), static_cast<std::int64_t>(v[1]), static_cast<std::int64_t>(v[2]),
                    static_cast<std::int64_t>(v[3])};
      }
      counts_.push_back(std::move(image));
    }
  }

 private:
  struct Job {
    cv::Mat prediction, gt;
  };

  void work() {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        space_.notify_all();
      }
      try {
        auto c = vision::boundary::image_counts(job.prediction, job.gt, thresholds_, max_dist_, 1);
        std::lock_guard<std::mutex> lock(mutex_);
        counts_.push_back(std::move(c));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    ready_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<double> thresholds_;
  double max_dist_;
  int threads_;
  std::size_t images_ = 0;
  std::vector<std::vector<vision::boundary::Counts>> counts_;
  std::deque<Job> queue_;
  bool done_ = false;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Metric> make_boundary_metric(const BoundaryMetricOptions& o) { return std::make_unique<BoundaryMetric>(o); }

}  // namespace densemtl::tasks

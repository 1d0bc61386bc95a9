// torch
// Δm (the survey's Eq. 10), the model-selection score and the results module's Δm grouping and
// statistics, against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "densemtl/eval/delta_m.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/report/results.h"
#include "densemtl/train/trainer.h"

namespace densemtl {

namespace {

OrderedJson metrics(std::initializer_list<std::tuple<const char*, const char*, double>> entries) {
  OrderedJson m = OrderedJson::object();
  for (const auto& [task, key, value] : entries) m[task][key] = value;
  return m;
}

std::map<std::string, OrderedJson> baselines() {
  return {{"semseg", metrics({{"semseg", "mIoU", 40.0}})},
          {"normals", metrics({{"normals", "mean", 25.0}})},
          {"edge", metrics({{"edge", "odsF", 50.0}})},
          {"depth", metrics({{"depth", "rmse", 0.6}})}};
}

}  // namespace

// Δm = (1/T) Σ_t (−1)^{l_t} (M_m,t − M_b,t) / M_b,t, l_t = 1 where lower is better.
TEST(DeltaM, IsTheMeanSignedRelativeChangeOverTheTasks) {
  const OrderedJson model = metrics({{"semseg", "mIoU", 44.0}, {"normals", "mean", 20.0}, {"edge", "odsF", 45.0}, {"depth", "rmse", 0.5}});
  const eval::DeltaM d = eval::delta_m(model, baselines(), {"semseg", "normals", "edge", "depth"});
  EXPECT_TRUE(d.complete());
  EXPECT_DOUBLE_EQ(d.per_task.at("semseg"), 0.1);        // (44 − 40) / 40, higher is better
  EXPECT_DOUBLE_EQ(d.per_task.at("normals"), 0.2);       // −(20 − 25) / 25, lower is better
  EXPECT_DOUBLE_EQ(d.per_task.at("edge"), -0.1);         // (45 − 50) / 50
  EXPECT_DOUBLE_EQ(d.per_task.at("depth"), 1.0 / 6.0);  // −(0.5 − 0.6) / 0.6
  EXPECT_NEAR(d.value, (0.1 + 0.2 - 0.1 + 1.0 / 6.0) / 4, 1e-15);
  // The order of the tasks does not matter.
  EXPECT_NEAR(eval::delta_m(model, baselines(), {"depth", "edge", "normals", "semseg"}).value, d.value, 1e-15);
}

TEST(DeltaM, EqualsZeroAgainstItselfAndIsNegativeWhenEveryTaskIsWorse) {
  OrderedJson same = OrderedJson::object();
  for (const auto& [t, m] : baselines()) same[t] = m[t];
  EXPECT_EQ(eval::delta_m(same, baselines(), {"semseg", "normals", "edge", "depth"}).value, 0.0);
  const OrderedJson worse = metrics({{"semseg", "mIoU", 30.0}, {"depth", "rmse", 0.9}});
  const eval::DeltaM d = eval::delta_m(worse, baselines(), {"semseg", "depth"});
  EXPECT_DOUBLE_EQ(d.value, (-0.25 - 0.5) / 2);
}

// A task without a single-task run, without a metric, with a zero baseline or scored on no image
// is listed as missing, not counted as 0; Δm is the mean over the tasks that could be scored.
TEST(DeltaM, ListsMissingTasksInsteadOfScoringThem) {
  auto base = baselines();
  base.erase("edge");
  base["normals"]["normals"]["mean"] = 0.0;
  OrderedJson model = metrics({{"semseg", "mIoU", 50.0}, {"normals", "mean", 20.0}, {"edge", "odsF", 45.0}, {"depth", "rmse", 0.3}});
  model["depth"]["images"] = 0;  // no test image labelled for depth
  const eval::DeltaM d = eval::delta_m(model, base, {"semseg", "normals", "edge", "depth", "sal"});
  EXPECT_FALSE(d.complete());
  EXPECT_EQ(d.missing, (std::vector<std::string>{"normals", "edge", "depth", "sal"}));
  EXPECT_EQ(d.per_task.size(), 1u);
  EXPECT_DOUBLE_EQ(d.value, 0.25);
  EXPECT_EQ(eval::delta_m(OrderedJson::object(), base, {"semseg"}).value, 0.0);
}

// Model selection: the mean relative improvement over the first validation, Δm's definition per
// task; a task without its metric takes its validation loss (lower is better); a task with neither
// takes no part.
TEST(ModelSelection, ScoresTheMeanImprovementOverTheFirstValidation) {
  OrderedJson reference;
  reference["metrics"] = metrics({{"semseg", "mIoU", 20.0}, {"depth", "rmse", 1.0}});
  reference["losses"] = {{"semseg", 2.0}, {"depth", 0.5}, {"edge", 0.2}};
  eval::EvalResult r;
  r.metrics = metrics({{"semseg", "mIoU", 25.0}, {"depth", "rmse", 0.8}});
  r.losses = {{"semseg", 1.0}, {"depth", 0.4}, {"edge", 0.15}};
  // semseg +0.25, depth +0.2 from the metrics; edge has no metric: −(0.15 − 0.2) / 0.2 = +0.25.
  EXPECT_DOUBLE_EQ(train::selection_score(r, reference, {"semseg", "depth", "edge"}), (0.25 + 0.2 + 0.25) / 3);
  // sal has neither a metric nor a loss: it does not take part.
  EXPECT_DOUBLE_EQ(train::selection_score(r, reference, {"semseg", "sal"}), 0.25);
  EXPECT_EQ(train::selection_score(r, reference, {"sal"}), 0.0);
}

namespace {

report::RunResult run(const std::string& name, std::vector<std::string> tasks, OrderedJson test, bool single_task) {
  report::RunResult r;
  r.name = name;
  r.tasks = std::move(tasks);
  r.test = std::move(test);
  r.single_task = single_task;
  return r;
}

}  // namespace

// The results module's Δm grouping: a run is scored against the single-task runs of its own group.
TEST(Results, BaselinesScoreARunAgainstItsOwnGroup) {
  const auto st_semseg = run("st_semseg", {"semseg"}, metrics({{"semseg", "mIoU", 40.0}}), true);
  const auto st_depth = run("st_depth", {"depth"}, metrics({{"depth", "rmse", 0.6}}), true);
  const auto other_semseg = run("other", {"semseg"}, metrics({{"semseg", "mIoU", 10.0}}), true);
  report::Baselines b;
  b.add("a", st_semseg);
  b.add("a", st_depth);
  b.add("b", other_semseg);
  const auto mt = run("mt", {"semseg", "depth"}, metrics({{"semseg", "mIoU", 44.0}, {"depth", "rmse", 0.5}}), false);
  const auto d = b.delta("a", mt);
  ASSERT_TRUE(d.has_value());
  EXPECT_DOUBLE_EQ(d->value, (0.1 + 1.0 / 6.0) / 2);
  EXPECT_EQ(report::delta_text(mt, d), "+13.33");
  // Group b has no depth run: incomplete, and the table says which is missing.
  const auto db = b.delta("b", mt);
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(report::delta_text(mt, db), "n/a (no single-task depth)");
  EXPECT_FALSE(b.delta("c", mt).has_value());
  EXPECT_EQ(report::delta_text(mt, std::nullopt), "n/a");
  EXPECT_EQ(report::delta_text(st_semseg, std::nullopt), "+0.00 (baseline)");
}

TEST(Results, StatisticsOverSeeds) {
  report::Stat s;
  EXPECT_EQ(report::show(s, 2), "–");
  s.add(1.0);
  EXPECT_EQ(report::show(s, 2), "1.00");
  EXPECT_TRUE(std::isnan(s.std()));
  s.add(3.0);
  EXPECT_DOUBLE_EQ(s.mean(), 2.0);
  EXPECT_DOUBLE_EQ(s.std(), std::sqrt(2.0));  // n − 1
  EXPECT_EQ(report::show(s, 2), "2.00 ± 1.41");
  report::Stat t;
  t.add(3.0);
  t.add(3.2);
  EXPECT_TRUE(report::within_spread(s, t));   // |2 − 3.1| ≤ 1.414 + 0.141
  report::Stat u;
  u.add(10.0);
  u.add(10.1);
  EXPECT_FALSE(report::within_spread(s, u));
  report::Stat one;
  one.add(2.0);
  EXPECT_FALSE(report::within_spread(s, one));  // below two seeds nothing is within a spread
}

TEST(Results, ScalarMetricsLeaveOutTheCounts) {
  OrderedJson m = {{"odsF", 40.0}, {"images", 10}, {"pixels", 100}, {"thresholds", 99}, {"curve", {{"recall", {0.1}}}}, {"oisF", 41.0}};
  const auto s = report::scalar_metrics(m);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], (std::pair<std::string, double>{"odsF", 40.0}));
  EXPECT_EQ(s[1], (std::pair<std::string, double>{"oisF", 41.0}));
}

}  // namespace densemtl

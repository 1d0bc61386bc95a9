// torch
// Parameter and FLOP counts: the reference configs' exact parameter counts (whole model and
// backbone), the width option, the multiply-accumulate counter and the survey's FLOPs convention.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/models/torch_file.h"
#include "densemtl/train/experiment.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::models {

using test::kNyud;
using test::kPascal;
using test::spec;
using test::with_aux;

TEST(ParameterCounts, EqualTheReferenceModels) {
  // The reference models' parameter counts, counted with the survey's code (its model classes built
  // from each of its configs; learnable parameters only): whole model and backbone, per config.
  struct Row {
    const char* config;
    ModelSpec spec;
    std::int64_t total, backbone;
  };
  const std::vector<std::string> pascal5 = {"semseg", "human_parts", "sal", "normals", "edge"};
  std::vector<Row> rows = {
      {"nyud/hrnet18/depth", spec("single_task", "hrnet_w18", {"depth"}, kNyud), 3934701, 3860720},
      {"nyud/hrnet18/semseg", spec("single_task", "hrnet_w18", {"semseg"}, kNyud), 3945270, 3860720},
      {"nyud/hrnet18/multi_task_baseline", spec("baseline", "hrnet_w18", {"semseg", "depth"}, kNyud), 4019251, 3860720},
      {"nyud/resnet50/depth", spec("single_task", "resnet50", {"depth"}, kNyud), 39633729, 23508032},
      {"nyud/resnet50/semseg", spec("single_task", "resnet50", {"semseg"}, kNyud), 39643752, 23508032},
      {"nyud/resnet50/multi_task_baseline", spec("baseline", "resnet50", {"semseg", "depth"}, kNyud), 55769449, 23508032},
      {"pascal/hrnet18/edge", spec("single_task", "hrnet_w18", {"edge"}, kPascal), 3934701, 3860720},
      {"pascal/hrnet18/human_parts", spec("single_task", "hrnet_w18", {"human_parts"}, kPascal), 3936327, 3860720},
      {"pascal/hrnet18/normals", spec("single_task", "hrnet_w18", {"normals"}, kPascal), 3935243, 3860720},
      {"pascal/hrnet18/sal", spec("single_task", "hrnet_w18", {"sal"}, kPascal), 3934701, 3860720},
      {"pascal/hrnet18/semseg", spec("single_task", "hrnet_w18", {"semseg"}, kPascal), 3940121, 3860720},
      {"pascal/hrnet18/multi_task_baseline", spec("baseline", "hrnet_w18", pascal5, kPascal), 4238213, 3860720},
      {"pascal/hrnet18/multi_task_baseline_small", spec("baseline", "hrnet_w18", {"semseg", "human_parts", "sal"}, kPascal), 4089709, 3860720},
      {"pascal/resnet18/edge", spec("single_task", "resnet18", {"edge"}, kPascal), 15898945, 11176512},
      {"pascal/resnet18/human_parts", spec("single_task", "resnet18", {"human_parts"}, kPascal), 15900487, 11176512},
      {"pascal/resnet18/normals", spec("single_task", "resnet18", {"normals"}, kPascal), 15899459, 11176512},
      {"pascal/resnet18/sal", spec("single_task", "resnet18", {"sal"}, kPascal), 15898945, 11176512},
      {"pascal/resnet18/semseg", spec("single_task", "resnet18", {"semseg"}, kPascal), 15904085, 11176512},
      {"pascal/resnet18/multi_task_baseline", spec("baseline", "resnet18", pascal5, kPascal), 34795873, 11176512},
      {"nyud/resnet50/mtan", spec("mtan", "resnet50", {"semseg", "depth"}, kNyud), 72052713, 23508032},
      {"pascal/resnet18/mtan", spec("mtan", "resnet18", pascal5, kPascal), 36613425, 11176512},
      {"nyud/resnet50/cross_stitch", spec("cross_stitch", "resnet50", {"semseg", "depth"}, kNyud), 79292841, 23508032},
      {"pascal/resnet18/cross_stitch", spec("cross_stitch", "resnet18", pascal5, kPascal), 79525921, 11176512},
      {"nyud/resnet50/nddr_cnn", spec("nddr_cnn", "resnet50", {"semseg", "depth"}, kNyud), 101591721, 23508032},
      {"pascal/resnet18/nddr_cnn", spec("nddr_cnn", "resnet18", pascal5, kPascal), 88318561, 11176512},
      {"nyud/hrnet18/pad_net", spec("pad_net", "hrnet_w18", {"semseg", "depth"}, kNyud), 7019056, 3934430},
      {"nyud/hrnet18/pad_net+edges_normals", with_aux(spec("pad_net", "hrnet_w18", {"semseg", "depth"}, kNyud), {"normals", "edge"}, kNyud),
       12161332, 3934430},
      {"nyud/hrnet18/mti_net", spec("mti_net", "hrnet_w18", {"semseg", "depth"}, kNyud), 8578179, 3860720},
      {"nyud/hrnet18/mti_net+edges_normals", with_aux(spec("mti_net", "hrnet_w18", {"semseg", "depth"}, kNyud), {"normals", "edge"}, kNyud),
       14838121, 3860720},
      {"pascal/hrnet18/pad_net", spec("pad_net", "hrnet_w18", pascal5, kPascal), 29304992, 3934430},
      {"pascal/hrnet18/pad_net_small", spec("pad_net", "hrnet_w18", {"semseg", "human_parts", "sal"}, kPascal), 12083608, 3934430},
      {"pascal/hrnet18/mti_net", spec("mti_net", "hrnet_w18", pascal5, kPascal), 24494171, 3860720},
      {"pascal/hrnet18/mti_net_small", spec("mti_net", "hrnet_w18", {"semseg", "human_parts", "sal"}, kPascal), 12645441, 3860720},
  };
  for (auto& row : rows) {
    Architecture m = make_architecture(row.spec);
    ParameterCount c = count_parameters(*m);
    EXPECT_EQ(c.total, row.total) << row.config;
    EXPECT_EQ(c.backbone, row.backbone) << row.config;
    // One backbone per task for soft sharing, one in all for the rest.
    const bool per_task = row.spec.architecture == "cross_stitch" || row.spec.architecture == "nddr_cnn";
    EXPECT_EQ(c.backbones, per_task ? static_cast<int>(row.spec.tasks.size()) : 1) << row.config;
    EXPECT_EQ(c.total, c.backbones * c.backbone + c.heads + c.other) << row.config;
  }
}

TEST(Models, WidthOptionShrinksAndStillPredictsEveryTaskAtInputSize) {
  Architecture full = make_architecture(spec("baseline", "resnet18", {"semseg", "depth"}, kNyud));
  Architecture small = make_architecture(spec("baseline", "resnet18", {"semseg", "depth"}, kNyud, 0.25));
  EXPECT_LT(count_parameters(*small).total * 10, count_parameters(*full).total);
  small->train();
  ModelOutput out = small->forward(torch::randn({2, 3, 48, 64}));
  EXPECT_EQ(out.tasks.at("semseg").sizes(), (std::vector<std::int64_t>{2, 40, 48, 64}));
  EXPECT_EQ(out.tasks.at("depth").sizes(), (std::vector<std::int64_t>{2, 1, 48, 64}));
  EXPECT_EQ(out.representation.shared.size(), 1u);
  EXPECT_FALSE(small->shared_parameters().empty());
}

TEST(Models, MacCounterCountsConvolutions) {
  Conv2d c = conv(3, 8, 3, 1, 1);
  MacCounter counter;
  c->forward(torch::zeros({1, 3, 10, 10}));
  EXPECT_EQ(counter.macs(), 8 * 10 * 10 * 3 * 9);
  Architecture m = make_architecture(spec("single_task", "resnet18", {"depth"}, kNyud, 0.25));
  std::int64_t a = count_macs(*m, 32, 32), b = count_macs(*m, 64, 64);
  EXPECT_GT(a, 0);
  EXPECT_NEAR(static_cast<double>(b) / static_cast<double>(a), 4.0, 0.05);  // FLOPs scale with pixels
}

TEST(Flops, TheSurveysFiguresAreAQuarterOfOursOnItsNyudResNet50Rows) {
  // As analytic MAC counts of the survey's code's models reproduce: the survey's "FLOPs" are half
  // the multiply-accumulates at 480x640,
  // a quarter of densemtl's 2 x MAC count (the benchmark tables' "Survey GFLOPs" column).
  auto gflops = [](const std::string& config) {
    Experiment x = Experiment::load(fs::path(DENSEMTL_SOURCE_DIR) / "configs" / "nyud" / "resnet50" / config);
    const data::DatasetInfo info = x.dataset_info();
    Architecture m = make_architecture(x.model_spec(info));
    const cv::Size size = x.input_size(info);
    EXPECT_EQ(size, cv::Size(640, 480)) << config;
    return 2.0 * static_cast<double>(count_macs(*m, size.height, size.width)) / 1e9;
  };
  EXPECT_NEAR(gflops("multi_task_baseline.yaml") / 4, 133, 0.5);                 // survey: 133
  EXPECT_NEAR((gflops("semseg.yaml") + gflops("depth.yaml")) / 4, 192, 0.5);     // two networks: 192
  EXPECT_NEAR(gflops("mtan.yaml") / 4, 197, 0.5);                                // 197
}

}  // namespace densemtl::models

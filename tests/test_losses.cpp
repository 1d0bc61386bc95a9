// torch
// Task losses against values computed by hand on tiny tensors (the losses of the survey's code).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "densemtl/tasks/registry.h"

namespace densemtl::tasks {

namespace {
at::Tensor t4(std::vector<float> v, std::vector<std::int64_t> shape) {
  return torch::tensor(v, torch::kFloat32).reshape(shape);
}
}  // namespace

TEST(Losses, CrossEntropyIgnoresLabel255AndGuardsAllIgnored) {
  // 2 classes, 3 pixels: logits (0, 0) label 1 -> ln 2; (ln 3, 0) label 0 -> ln(4/3); third ignored.
  at::Tensor logits = t4({0.0f, std::log(3.0f), 5.0f, 0.0f, 0.0f, -5.0f}, {1, 2, 1, 3}).requires_grad_(true);
  at::Tensor label = t4({1, 0, 255}, {1, 1, 1, 3});
  double expected = (std::log(2.0) + std::log(4.0 / 3.0)) / 2;
  EXPECT_NEAR(get("semseg").loss(logits, label).item<double>(), expected, 1e-6);
  EXPECT_NEAR(get("human_parts").loss(logits, label).item<double>(), expected, 1e-6);
  at::Tensor none = t4({255, 255, 255}, {1, 1, 1, 3});
  at::Tensor l = get("semseg").loss(logits, none);
  EXPECT_EQ(l.item<double>(), 0.0);
  l.backward();  // still part of the graph
  EXPECT_EQ(logits.grad().abs().sum().item<double>(), 0.0);
}

TEST(Losses, BalancedBceForEdgesUsesWeight095AndDividesByTheElementCount) {
  // x = 0, y = 1 -> ln 2; x = 2, y = 0 -> ln(1 + e^2).
  at::Tensor logits = t4({0.0f, 2.0f}, {1, 1, 1, 2});
  at::Tensor label = t4({1, 0}, {1, 1, 1, 2});
  double expected = (0.95 * std::log(2.0) + 0.05 * std::log(1 + std::exp(2.0))) / 2;
  EXPECT_NEAR(get("edge").loss(logits, label).item<double>(), expected, 1e-6);
  // tasks.edge.pos_weight configures it.
  TaskSet half({"edge"}, task_options("tasks: {edge: {pos_weight: 0.5}}", "test").get());
  EXPECT_NEAR(half.at("edge").loss(logits, label).item<double>(), (0.5 * std::log(2.0) + 0.5 * std::log(1 + std::exp(2.0))) / 2, 1e-6);
  // An ignored pixel (a per-image missing label) is not supervised and not counted.
  at::Tensor logits3 = t4({0.0f, 2.0f, 7.0f}, {1, 1, 1, 3});
  at::Tensor label3 = t4({1, 0, 255}, {1, 1, 1, 3});
  EXPECT_NEAR(get("edge").loss(logits3, label3).item<double>(), expected, 1e-6);
}

TEST(Losses, SaliencyWeightIsTheBatchShareOfNegatives) {
  // One positive, three negatives, all logits 0: w = 3/4, every pixel ln 2.
  at::Tensor logits = torch::zeros({1, 1, 2, 2});
  at::Tensor label = t4({1, 0, 0, 0}, {1, 1, 2, 2});
  double expected = (0.75 * std::log(2.0) + 0.25 * 3 * std::log(2.0)) / 4;
  EXPECT_NEAR(get("sal").loss(logits, label).item<double>(), expected, 1e-6);
}

TEST(Losses, NormalsL1OnNormalisedPredictionsOverValidElements) {
  // Pixel 1: (3, 4, 0) -> (0.6, 0.8, 0) against (1, 0, 0): |0.4| + 0.8 + 0 = 1.2 over 3 elements.
  at::Tensor out = t4({3, 9, 4, 9, 0, 9}, {1, 3, 1, 2});
  at::Tensor label = t4({1, 255, 0, 255, 0, 255}, {1, 3, 1, 2});
  EXPECT_NEAR(get("normals").loss(out, label).item<double>(), 0.4, 1e-6);
}

TEST(Losses, DepthL1OverValidPixels) {
  at::Tensor out = t4({1, 2, 3}, {1, 1, 1, 3});
  at::Tensor label = t4({1.5, 255, 2}, {1, 1, 1, 3});
  EXPECT_NEAR(get("depth").loss(out, label).item<double>(), 0.75, 1e-6);
  EXPECT_EQ(get("depth").loss(out, t4({255, 255, 255}, {1, 1, 1, 3})).item<double>(), 0.0);
}

TEST(Losses, ImagesWithoutALabelDoNotCountInTheMean) {
  // Partially labelled batches: every task's loss over a batch whose images 1 and 3 carry no label
  // equals its loss over images 0 and 2 alone, and the unlabelled images get no gradient.
  torch::manual_seed(3);
  const std::map<std::string, int> outputs = {{"semseg", 5}, {"human_parts", 7}, {"sal", 1}, {"edge", 1}, {"normals", 3}, {"depth", 1}};
  for (const auto& [task, c] : outputs) {
    SCOPED_TRACE(task);
    at::Tensor out = torch::randn({4, c, 6, 5}).requires_grad_(true);
    at::Tensor label;
    if (task == "semseg" || task == "human_parts") label = torch::randint(0, c, {4, 1, 6, 5}).to(torch::kFloat32);
    else if (task == "sal" || task == "edge") label = (torch::rand({4, 1, 6, 5}) > 0.7).to(torch::kFloat32);
    else if (task == "normals") label = torch::nn::functional::normalize(torch::randn({4, 3, 6, 5}), torch::nn::functional::NormalizeFuncOptions().dim(1));
    else label = torch::rand({4, 1, 6, 5}) * 5 + 0.5;
    label[0][0][0][0] = Task::kIgnore;  // an ignored pixel inside a labelled image too
    at::Tensor partial = label.clone();
    partial[1].fill_(Task::kIgnore);
    partial[3].fill_(Task::kIgnore);
    at::Tensor keep = torch::tensor({0, 2}, torch::kLong);
    at::Tensor l = get(task).loss(out, partial);
    double alone = get(task).loss(out.detach().index_select(0, keep), label.index_select(0, keep)).item<double>();
    EXPECT_NEAR(l.item<double>(), alone, 1e-6 * std::max(1.0, std::fabs(alone)));
    l.backward();
    EXPECT_EQ(out.grad()[1].abs().sum().item<double>(), 0.0);
    EXPECT_EQ(out.grad()[3].abs().sum().item<double>(), 0.0);
    EXPECT_GT(out.grad()[0].abs().sum().item<double>(), 0.0);
  }
}

TEST(Predictions, EncodingMatchesTheReferenceFormats) {
  cv::Size original(6, 4);
  // Classes: argmax at network size, nearest resize.
  at::Tensor cls = torch::zeros({3, 2, 3});
  cls[2][0][0] = 1;
  cv::Mat c = get("semseg").encode_prediction(cls, original);
  EXPECT_EQ(c.type(), CV_8U);
  EXPECT_EQ(c.size(), original);
  EXPECT_EQ(c.at<std::uint8_t>(0, 0), 2);
  EXPECT_EQ(c.at<std::uint8_t>(3, 5), 0);
  // Probabilities: 255 * sigmoid, truncated (not rounded).
  at::Tensor logit = torch::full({1, 2, 3}, std::log(3.0f));  // sigmoid = 0.75 -> 191.25 -> 191
  cv::Mat p = get("sal").encode_prediction(logit, original);
  EXPECT_EQ(p.at<std::uint8_t>(1, 1), 191);
  // Normals: (n + 1) 255 / 2 truncated, decoded back within a degree.
  at::Tensor n = torch::zeros({3, 2, 3});
  n[0].fill_(0.6);
  n[2].fill_(0.8 * 5);  // not unit length: normalised first
  cv::Mat ne = get("normals").encode_prediction(n, original);
  EXPECT_EQ(ne.type(), CV_8UC3);
  cv::Mat nd = get("normals").decode_prediction(ne);
  cv::Vec3f v = nd.at<cv::Vec3f>(2, 2);
  double expected_x = 0.6 / std::sqrt(0.36 + 16.0);
  EXPECT_NEAR(v[0], expected_x, 0.01);
  EXPECT_NEAR(std::sqrt(v.dot(v)), 1.0, 1e-5);
  // Depth stays metres.
  cv::Mat d = get("depth").encode_prediction(torch::full({1, 2, 3}, 2.5f), original);
  EXPECT_EQ(d.type(), CV_32F);
  EXPECT_FLOAT_EQ(d.at<float>(3, 5), 2.5f);
  EXPECT_EQ(get("depth").prediction_extension(), ".npy");
}

}  // namespace densemtl::tasks

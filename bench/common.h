// What the benchmark drivers share: the networks they time and random labels for them.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "densemtl/models/build.h"

namespace densemtl::bench {

inline const std::map<std::string, std::int64_t>& benchmark_outputs() {
  static const std::map<std::string, std::int64_t> outputs = {{"semseg", 40}, {"normals", 3}, {"edge", 1}, {"depth", 1}};
  return outputs;
}

// st_r18: single-task semseg on a dilated ResNet-18 with a DeepLab head; mt_r18: the shared-encoder
// baseline with semseg, normals, edge, depth; mt_hrnet: the same tasks on HRNet-W18 with HRNet
// heads; mtan_r18: MTAN on the ResNet-18; mti_net, pad_net: those on HRNet-W18 with the four tasks'
// initial predictions. `width` scales backbone and heads (1 = the reference networks).
inline models::Architecture build_benchmark_model(const std::string& name, double width = 1.0) {
  models::ModelSpec s;
  const bool hrnet = name == "mt_hrnet" || name == "mti_net" || name == "pad_net";
  s.architecture = name == "st_r18" ? "single_task" : name == "mtan_r18" ? "mtan" : hrnet && name != "mt_hrnet" ? name : "baseline";
  s.backbone.name = hrnet ? "hrnet_w18" : "resnet18";
  s.backbone.width = width;
  s.head.name = hrnet ? "hrnet" : "deeplab";
  s.head.width = width;
  s.tasks = name == "st_r18" ? std::vector<std::string>{"semseg"} : std::vector<std::string>{"semseg", "normals", "edge", "depth"};
  for (const auto& t : s.tasks) s.outputs[t] = benchmark_outputs().at(t);
  return models::make_architecture(s);
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Random labels of plausible content (the same recipe as the Python side, not the same values).
inline std::map<std::string, torch::Tensor> make_labels(const std::vector<std::string>& tasks, int b, int h, int w) {
  std::map<std::string, torch::Tensor> y;
  for (const auto& t : tasks) {
    if (t == "semseg") {
      torch::Tensor s = torch::randint(0, 40, {b, 1, h, w}).to(torch::kFloat32);
      s.masked_fill_(torch::rand({b, 1, h, w}) < 0.05, 255.0);
      y[t] = s;
    } else if (t == "normals") {
      torch::Tensor n = torch::randn({b, 3, h, w});
      y[t] = n / n.norm(2, 1, true);
    } else if (t == "edge") {
      y[t] = (torch::rand({b, 1, h, w}) < 0.05).to(torch::kFloat32);
    } else {
      torch::Tensor d = torch::rand({b, 1, h, w}) * 9.5 + 0.5;
      d.masked_fill_(torch::rand({b, 1, h, w}) < 0.02, 255.0);
      y[t] = d;
    }
  }
  return y;
}

}  // namespace densemtl::bench

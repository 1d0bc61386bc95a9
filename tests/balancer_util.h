// Building a balancer with chosen options (balancer.<name>.<key>=value), for the balancer tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "densemtl/balancing/balancer.h"
#include "densemtl/train/experiment.h"

namespace densemtl::test {

inline std::unique_ptr<balancing::Balancer> make_balancer_with(const std::string& name, const std::vector<std::string>& tasks,
                                                               const std::vector<std::string>& overrides = {}) {
  static std::vector<std::shared_ptr<config::Config>> keep;  // the options' views point into these
  std::vector<std::string> all = {"balancer.name=" + name};
  all.insert(all.end(), overrides.begin(), overrides.end());
  auto cfg = std::make_shared<config::Config>(config::Config::parse(
      experiment_schema(),
      "data: {dataset: synthetic, root: x}\ntasks: {main: [semseg]}\nmodel: {architecture: baseline, head: deeplab}\n"
      "backbone: {name: resnet18}\noptimizer: {name: adam, lr: 0.001}\ntrain: {epochs: 1}\n",
      "test", all));
  keep.push_back(cfg);
  balancing::Setup s;
  s.tasks = tasks;
  std::string section = "balancer." + name;
  if (cfg->has(section)) s.options = config::View(*cfg, section);
  return balancing::make_balancer(name, s);
}

// Every configuration a balancer's contract is checked in: its defaults, and each value of its
// `mode` option when it has one.
inline std::vector<std::vector<std::string>> balancer_variants(const std::string& name) {
  std::vector<std::vector<std::string>> out = {{}};
  for (const auto& o : balancing::balancer_entry(name).options)
    if (o.name == "mode")
      for (const auto& c : o.choices) out.push_back({"balancer." + name + ".mode=" + c});
  return out;
}

}  // namespace densemtl::test

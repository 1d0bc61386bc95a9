#include "densemtl/suite/protocol.h"

#include <algorithm>
#include <map>
#include <set>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/yaml_tree.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"

namespace densemtl::suite {

std::string Cell::row() const { return single_task() ? group + "/single_task" : group + "/" + architecture + "/" + balancer; }

const Cell& Benchmark::cell(const std::string& name) const {
  for (const auto& c : cells)
    if (c.name == name) return c;
  fail("benchmark {}: no cell named {}", this->name, name);
}

namespace {

// Errors name the file, the line and the key path.
struct Where {
  std::string file;
  std::string at(const YAML::Node& n, const std::string& key) const {
    return n.Mark().is_null() ? fmt::format("{}: {}", file, key) : fmt::format("{}:{}: {}", file, n.Mark().line + 1, key);
  }
};

void check_keys(const Where& w, const YAML::Node& n, const std::string& path, const std::vector<std::string>& known) {
  if (!n.IsMap()) fail("{}: expected a mapping", w.at(n, path.empty() ? "(top level)" : path));
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string hint = closest(k, known);
    fail("{}: unknown key{} (keys here: {})", w.at(kv.first, path.empty() ? k : path + "." + k),
         hint.empty() ? "" : " (did you mean '" + hint + "'?)", join(known, ", "));
  }
}

// An experiment-config fragment: absent is empty; anything else must be a mapping.
YAML::Node fragment(const Where& w, const YAML::Node& parent, const std::string& key, const std::string& path) {
  YAML::Node n = parent[key];
  if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!n.IsMap()) fail("{}: expected a mapping of experiment-config keys", w.at(n, path));
  return n;
}

// Maps merge key by key; anything else replaces.
void merge_into(YAML::Node dst, const YAML::Node& src) {
  for (const auto& kv : src) {
    const std::string k = kv.first.Scalar();
    YAML::Node d = dst[k];
    if (kv.second.IsMap() && d.IsDefined() && d.IsMap()) merge_into(d, kv.second);
    else dst[k] = YAML::Clone(kv.second);
  }
}

// A list of names, or "all" for every one of `all`; each checked against `all`.
std::vector<std::string> names(const Where& w, const YAML::Node& n, const std::string& path, const std::vector<std::string>& all,
                               const std::string& what) {
  std::vector<std::string> out;
  if (n.IsScalar() && n.Scalar() == "all") return all;
  if (n.IsScalar()) out.push_back(n.Scalar());
  else if (n.IsSequence())
    for (const auto& e : n) {
      if (!e.IsScalar()) fail("{}: expected {} names", w.at(e, path), what);
      out.push_back(e.Scalar());
    }
  else fail("{}: expected a list of {} names or 'all'", w.at(n, path), what);
  if (out.empty()) fail("{}: the list is empty", w.at(n, path));
  for (const auto& name : out)
    if (std::find(all.begin(), all.end(), name) == all.end()) {
      std::string hint = closest(name, all);
      fail("{}: unknown {} '{}'{} (known: {})", w.at(n, path), what, name, hint.empty() ? "" : " (did you mean '" + hint + "'?)",
           join(all, ", "));
    }
  return out;
}

std::vector<std::string> string_list(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n.IsDefined() && n.IsSequence())
    for (const auto& e : n)
      if (e.IsScalar()) out.push_back(e.Scalar());
  return out;
}

struct Group {
  YAML::Node config, single_task;
};
struct Method {
  std::string group;
  YAML::Node config;
};

// The keys the grid sets for each cell cannot come from a protocol fragment.
void forbid_cell_keys(const Where& w, const YAML::Node& fragment, const std::string& path) {
  for (const char* key : {"model.architecture", "balancer.name", "seed", "name"}) {
    YAML::Node n = fragment;
    bool found = true;
    for (const auto& part : split(key, '.')) {
      if (!n.IsMap() || !n[part].IsDefined()) {
        found = false;
        break;
      }
      n.reset(n[part]);
    }
    if (found) fail("{}: the grid sets this for each cell; remove it from the protocol", w.at(n, path + "." + key));
  }
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter e;
  e << n;
  return e.c_str();
}

// Drops the keys a cell's own tasks and balancer make meaningless: loss weights and task options
// of tasks it does not have, and loss weights under a balancer that does not use them.
void fit_to_cell(YAML::Node cfg, const std::vector<std::string>& tasks, bool uses_loss_weights) {
  YAML::Node t = cfg["tasks"];
  if (!t.IsDefined() || !t.IsMap()) return;
  auto has = [&](const std::string& name) { return std::find(tasks.begin(), tasks.end(), name) != tasks.end(); };
  for (const auto& name : tasks::names())
    if (!has(name) && t[name].IsDefined()) t.remove(name);
  YAML::Node w = t["loss_weights"];
  if (w.IsDefined() && w.IsMap()) {
    std::vector<std::string> drop;
    for (const auto& kv : w)
      if (!uses_loss_weights || !has(kv.first.Scalar())) drop.push_back(kv.first.Scalar());
    for (const auto& d : drop) w.remove(d);
  }
}

}  // namespace

Benchmark load_benchmark(const fs::path& protocol_file, const fs::path& grid_file, const fs::path& out,
                         const std::vector<std::string>& sets) {
  Benchmark b;
  b.protocol_file = protocol_file;
  b.grid_file = grid_file;
  b.sets = sets;
  if (!fs::is_regular_file(protocol_file)) fail("{}: no such protocol file", protocol_file.string());
  if (!fs::is_regular_file(grid_file)) fail("{}: no such grid file", grid_file.string());
  b.protocol_text = read_file(protocol_file);
  b.grid_text = read_file(grid_file);
  const Where wp{protocol_file.string()}, wg{grid_file.string()};
  const config::Spec& schema = experiment_schema();

  // The protocol.
  YAML::Node p = config::parse_yaml(b.protocol_text, wp.file);
  check_keys(wp, p, "", {"name", "description", "config", "single_task", "backbones", "architectures", "balancers"});
  if (!p["name"].IsDefined() || !p["name"].IsScalar() || p["name"].Scalar().empty()) fail("{}: name: required (the benchmark's name)", wp.file);
  b.name = p["name"].Scalar();
  if (p["description"].IsDefined()) {
    if (!p["description"].IsScalar()) fail("{}: expected text", wp.at(p["description"], "description"));
    b.description = p["description"].Scalar();
  }
  const YAML::Node common = fragment(wp, p, "config", "config");
  const YAML::Node single_task = fragment(wp, p, "single_task", "single_task");
  forbid_cell_keys(wp, common, "config");
  forbid_cell_keys(wp, single_task, "single_task");
  std::map<std::string, Group> groups;
  if (!p["backbones"].IsDefined() || !p["backbones"].IsMap() || p["backbones"].size() == 0)
    fail("{}: backbones: required, a mapping of backbone groups (e.g. resnet18: {{config: {{backbone: {{name: resnet18}}}}}})", wp.file);
  for (const auto& kv : p["backbones"]) {
    const std::string g = kv.first.Scalar(), path = "backbones." + g;
    if (kv.second.IsNull()) {
      groups[g] = {YAML::Node(YAML::NodeType::Map), YAML::Node(YAML::NodeType::Map)};
    } else {
      check_keys(wp, kv.second, path, {"config", "single_task"});
      groups[g] = {fragment(wp, kv.second, "config", path + ".config"), fragment(wp, kv.second, "single_task", path + ".single_task")};
      forbid_cell_keys(wp, groups[g].config, path + ".config");
      forbid_cell_keys(wp, groups[g].single_task, path + ".single_task");
    }
    b.groups.push_back(g);
  }

  const std::vector<std::string> all_architectures = schema.child("model")->child("architecture")->choices;
  std::map<std::string, Method> architectures;
  std::vector<std::string> protocol_architectures;  // protocol order ("all" in a grid)
  if (!p["architectures"].IsDefined() || !p["architectures"].IsMap() || p["architectures"].size() == 0)
    fail("{}: architectures: required, each architecture a grid may use with its backbone group", wp.file);
  for (const auto& kv : p["architectures"]) {
    const std::string a = kv.first.Scalar(), path = "architectures." + a;
    if (std::find(all_architectures.begin(), all_architectures.end(), a) == all_architectures.end() || a == "single_task") {
      std::string hint = closest(a, all_architectures);
      fail("{}: unknown multi-task architecture{} (known: {})", wp.at(kv.first, path), hint.empty() ? "" : " (did you mean '" + hint + "'?)",
           join(all_architectures, ", "));
    }
    Method m;
    if (kv.second.IsNull()) {
      m.group = b.groups.front();
      m.config = YAML::Node(YAML::NodeType::Map);
    } else {
      check_keys(wp, kv.second, path, {"backbone", "config"});
      m.group = kv.second["backbone"].IsDefined() ? kv.second["backbone"].Scalar() : b.groups.front();
      if (!groups.count(m.group))
        fail("{}: no backbone group '{}' (groups: {})", wp.at(kv.second["backbone"], path + ".backbone"), m.group, join(b.groups, ", "));
      m.config = fragment(wp, kv.second, "config", path + ".config");
      forbid_cell_keys(wp, m.config, path + ".config");
    }
    architectures[a] = m;
    protocol_architectures.push_back(a);
  }

  const std::vector<std::string> all_balancers = balancing::balancer_names();
  std::map<std::string, YAML::Node> balancers;
  if (p["balancers"].IsDefined() && !p["balancers"].IsNull()) {
    if (!p["balancers"].IsMap()) fail("{}: expected a mapping of balancer names", wp.at(p["balancers"], "balancers"));
    for (const auto& kv : p["balancers"]) {
      const std::string m = kv.first.Scalar(), path = "balancers." + m;
      names(wp, kv.first, path, all_balancers, "balancer");
      if (kv.second.IsNull()) continue;
      check_keys(wp, kv.second, path, {"config"});
      balancers[m] = fragment(wp, kv.second, "config", path + ".config");
      forbid_cell_keys(wp, balancers[m], path + ".config");
    }
  }

  // The grid.
  YAML::Node g = config::parse_yaml(b.grid_text, wg.file);
  check_keys(wg, g, "", {"seeds", "single_task", "cells"});
  if (!g["seeds"].IsDefined() || !g["seeds"].IsSequence() || g["seeds"].size() == 0)
    fail("{}: seeds: required, a list of seeds (e.g. [0, 1])", wg.file);
  for (const auto& s : g["seeds"]) {
    long long v = -1;
    try {
      v = s.as<long long>();
    } catch (const YAML::Exception&) {
    }
    if (v < 0 || v > 2147483647) fail("{}: expected a seed in 0..2147483647, got '{}'", wg.at(s, "seeds"), s.IsScalar() ? s.Scalar() : "?");
    if (std::find(b.seeds.begin(), b.seeds.end(), static_cast<std::uint64_t>(v)) != b.seeds.end())
      fail("{}: seed {} given twice", wg.at(s, "seeds"), v);
    b.seeds.push_back(static_cast<std::uint64_t>(v));
  }
  bool with_single_task = true;
  if (g["single_task"].IsDefined()) {
    try {
      with_single_task = g["single_task"].as<bool>();
    } catch (const YAML::Exception&) {
      fail("{}: expected true or false", wg.at(g["single_task"], "single_task"));
    }
  }
  if (!g["cells"].IsDefined() || !g["cells"].IsSequence() || g["cells"].size() == 0)
    fail("{}: cells: required, a list of {{architectures: [...], balancers: [...]}}", wg.file);
  std::vector<std::pair<std::string, std::string>> pairs;  // (architecture, balancer), grid order, once each
  for (std::size_t i = 0; i < g["cells"].size(); ++i) {
    const YAML::Node e = g["cells"][i];
    const std::string path = fmt::format("cells[{}]", i);
    check_keys(wg, e, path, {"architectures", "balancers"});
    if (!e["architectures"].IsDefined()) fail("{}: required", wg.at(e, path + ".architectures"));
    std::vector<std::string> as = names(wg, e["architectures"], path + ".architectures", protocol_architectures, "architecture (of the protocol)");
    std::vector<std::string> ms = e["balancers"].IsDefined() ? names(wg, e["balancers"], path + ".balancers", all_balancers, "balancer")
                                                             : std::vector<std::string>{"fixed"};
    for (const auto& a : as)
      for (const auto& m : ms)
        if (std::find(pairs.begin(), pairs.end(), std::make_pair(a, m)) == pairs.end()) pairs.emplace_back(a, m);
  }

  // Cells: each (architecture, balancer) per seed; single-task cells for every task of a group's
  // multi-task cells.
  auto validate = [&](Cell& cell, YAML::Node cfg) {
    const std::string source = fmt::format("{} (cell {})", wp.file, cell.name);
    config::Config c = config::Config::parse(schema, emit(cfg), source);
    Experiment::from(c);  // the cross-key checks
    cell.config = c.dump();
    cell.data_root = c.get_string("data.root");
  };
  auto base_config = [&](const std::string& group) {
    YAML::Node cfg = YAML::Clone(common);
    merge_into(cfg, groups[group].config);
    return cfg;
  };
  auto apply_sets = [&](YAML::Node cfg) {
    for (const auto& s : sets) config::apply_override(schema, cfg, s);
  };
  const fs::path out_abs = fs::weakly_canonical(fs::absolute(out));

  std::vector<Cell> multi;
  std::map<std::string, std::vector<std::string>> group_tasks;  // tasks needing single-task runs, per group
  for (const auto& [a, m] : pairs)
    for (std::uint64_t seed : b.seeds) {
      Cell c;
      c.architecture = a;
      c.balancer = m;
      c.seed = seed;
      c.group = architectures[a].group;
      c.name = fmt::format("{}-{}-s{}", a, m, seed);
      YAML::Node cfg = base_config(c.group);
      merge_into(cfg, architectures[a].config);
      if (balancers.count(m)) merge_into(cfg, balancers[m]);
      apply_sets(cfg);
      try {
        c.tasks = tasks::canonical(string_list(cfg["tasks"]["main"]));
      } catch (const Error& e) {
        fail("{} (cell {}): tasks.main: {}", wp.file, c.name, e.what());
      }
      std::vector<std::string> all = c.tasks, aux = string_list(cfg["tasks"]["aux"]);
      all.insert(all.end(), aux.begin(), aux.end());
      fit_to_cell(cfg, all, balancing::balancer_entry(m).uses_loss_weights);
      cfg["model"]["architecture"] = a;
      cfg["balancer"]["name"] = m;
      cfg["seed"] = seed;
      cfg["name"] = c.name;
      const config::Spec* own = schema.child("model")->child(a);
      if (own && own->child("single_task_runs")) {
        if (!with_single_task)
          fail("{}: single_task: false, but {} starts from single-task runs (model.{}.single_task_runs)", wg.file, a, a);
        YAML::Node runs(YAML::NodeType::Sequence);
        for (const auto& t : c.tasks) {
          std::string st = fmt::format("single_task-{}-{}-s{}", t, c.group, seed);
          c.needs.push_back(st);
          runs.push_back((out_abs / "cells" / st / "run").string());
        }
        cfg["model"][a]["single_task_runs"] = runs;
      }
      for (const auto& t : c.tasks) {
        auto& v = group_tasks[c.group];
        if (std::find(v.begin(), v.end(), t) == v.end()) v.push_back(t);
      }
      validate(c, cfg);
      multi.push_back(std::move(c));
    }

  if (with_single_task)
    for (const auto& group : b.groups) {
      if (!group_tasks.count(group)) continue;
      for (const auto& t : tasks::canonical(group_tasks[group]))
        for (std::uint64_t seed : b.seeds) {
          Cell c;
          c.architecture = "single_task";
          c.balancer = "fixed";
          c.task = t;
          c.tasks = {t};
          c.seed = seed;
          c.group = group;
          c.name = fmt::format("single_task-{}-{}-s{}", t, group, seed);
          YAML::Node cfg = base_config(group);
          merge_into(cfg, single_task);
          merge_into(cfg, groups[group].single_task);
          apply_sets(cfg);
          fit_to_cell(cfg, {t}, true);
          cfg["tasks"]["main"] = std::vector<std::string>{t};
          if (cfg["tasks"]["aux"].IsDefined()) cfg["tasks"].remove("aux");
          cfg["model"]["architecture"] = "single_task";
          if (cfg["balancer"].IsDefined()) cfg.remove("balancer");
          cfg["seed"] = seed;
          cfg["name"] = c.name;
          validate(c, cfg);
          b.cells.push_back(std::move(c));
        }
    }
  for (auto& c : multi) b.cells.push_back(std::move(c));
  return b;
}

}  // namespace densemtl::suite

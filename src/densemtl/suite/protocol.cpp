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

using config::merge_into;

struct Group {
  YAML::Node config, single_task;
};
struct Method {
  std::string group;
  YAML::Node config;
};

// A protocol file's pieces: the config fragments of every cell, of single-task cells, of each
// backbone group, architecture and balancer.
struct Protocol {
  Where where;
  YAML::Node common, single_task;
  std::map<std::string, Group> groups;
  std::map<std::string, Method> architectures;
  std::vector<std::string> architecture_order;  // protocol order ("all" in a grid)
  std::map<std::string, YAML::Node> balancers;
};

// A grid file's pieces beside its seeds.
struct Grid {
  bool with_single_task = true;
  std::vector<std::pair<std::string, std::string>> pairs;  // (architecture, balancer), grid order, once each
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

namespace {

void read_backbone_groups(Protocol& p, const YAML::Node& doc, Benchmark& b) {
  const Where& wp = p.where;
  if (!doc["backbones"].IsDefined() || !doc["backbones"].IsMap() || doc["backbones"].size() == 0)
    fail("{}: backbones: required, a mapping of backbone groups (e.g. resnet18: {{config: {{backbone: {{name: resnet18}}}}}})", wp.file);
  for (const auto& kv : doc["backbones"]) {
    const std::string g = kv.first.Scalar(), path = "backbones." + g;
    if (kv.second.IsNull()) {
      p.groups[g] = {YAML::Node(YAML::NodeType::Map), YAML::Node(YAML::NodeType::Map)};
    } else {
      check_keys(wp, kv.second, path, {"config", "single_task"});
      p.groups[g] = {fragment(wp, kv.second, "config", path + ".config"), fragment(wp, kv.second, "single_task", path + ".single_task")};
      forbid_cell_keys(wp, p.groups[g].config, path + ".config");
      forbid_cell_keys(wp, p.groups[g].single_task, path + ".single_task");
    }
    b.groups.push_back(g);
  }
}

void read_architectures(Protocol& p, const YAML::Node& doc, const Benchmark& b) {
  const Where& wp = p.where;
  const std::vector<std::string> all = experiment_schema().child("model")->child("architecture")->choices;
  if (!doc["architectures"].IsDefined() || !doc["architectures"].IsMap() || doc["architectures"].size() == 0)
    fail("{}: architectures: required, each architecture a grid may use with its backbone group", wp.file);
  for (const auto& kv : doc["architectures"]) {
    const std::string a = kv.first.Scalar(), path = "architectures." + a;
    if (std::find(all.begin(), all.end(), a) == all.end() || a == "single_task") {
      std::string hint = closest(a, all);
      fail("{}: unknown multi-task architecture{} (known: {})", wp.at(kv.first, path), hint.empty() ? "" : " (did you mean '" + hint + "'?)",
           join(all, ", "));
    }
    Method m;
    if (kv.second.IsNull()) {
      m.group = b.groups.front();
      m.config = YAML::Node(YAML::NodeType::Map);
    } else {
      check_keys(wp, kv.second, path, {"backbone", "config"});
      m.group = kv.second["backbone"].IsDefined() ? kv.second["backbone"].Scalar() : b.groups.front();
      if (!p.groups.count(m.group))
        fail("{}: no backbone group '{}' (groups: {})", wp.at(kv.second["backbone"], path + ".backbone"), m.group, join(b.groups, ", "));
      m.config = fragment(wp, kv.second, "config", path + ".config");
      forbid_cell_keys(wp, m.config, path + ".config");
    }
    p.architectures[a] = m;
    p.architecture_order.push_back(a);
  }
}

void read_balancers(Protocol& p, const YAML::Node& doc) {
  const Where& wp = p.where;
  if (!doc["balancers"].IsDefined() || doc["balancers"].IsNull()) return;
  if (!doc["balancers"].IsMap()) fail("{}: expected a mapping of balancer names", wp.at(doc["balancers"], "balancers"));
  for (const auto& kv : doc["balancers"]) {
    const std::string m = kv.first.Scalar(), path = "balancers." + m;
    names(wp, kv.first, path, balancing::balancer_names(), "balancer");
    if (kv.second.IsNull()) continue;
    check_keys(wp, kv.second, path, {"config"});
    p.balancers[m] = fragment(wp, kv.second, "config", path + ".config");
    forbid_cell_keys(wp, p.balancers[m], path + ".config");
  }
}

Protocol read_protocol(Benchmark& b) {
  Protocol p{Where{b.protocol_file.string()}, {}, {}, {}, {}, {}, {}};
  const Where& wp = p.where;
  YAML::Node doc = config::parse_yaml(b.protocol_text, wp.file);
  check_keys(wp, doc, "", {"name", "description", "config", "single_task", "backbones", "architectures", "balancers"});
  if (!doc["name"].IsDefined() || !doc["name"].IsScalar() || doc["name"].Scalar().empty())
    fail("{}: name: required (the benchmark's name)", wp.file);
  b.name = doc["name"].Scalar();
  if (doc["description"].IsDefined()) {
    if (!doc["description"].IsScalar()) fail("{}: expected text", wp.at(doc["description"], "description"));
    b.description = doc["description"].Scalar();
  }
  p.common = fragment(wp, doc, "config", "config");
  p.single_task = fragment(wp, doc, "single_task", "single_task");
  forbid_cell_keys(wp, p.common, "config");
  forbid_cell_keys(wp, p.single_task, "single_task");
  read_backbone_groups(p, doc, b);
  read_architectures(p, doc, b);
  read_balancers(p, doc);
  return p;
}

void read_seeds(const Where& wg, const YAML::Node& g, Benchmark& b) {
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
}

Grid read_grid(Benchmark& b, const Protocol& p) {
  const Where wg{b.grid_file.string()};
  YAML::Node g = config::parse_yaml(b.grid_text, wg.file);
  check_keys(wg, g, "", {"seeds", "single_task", "cells"});
  read_seeds(wg, g, b);
  Grid grid;
  if (g["single_task"].IsDefined()) {
    try {
      grid.with_single_task = g["single_task"].as<bool>();
    } catch (const YAML::Exception&) {
      fail("{}: expected true or false", wg.at(g["single_task"], "single_task"));
    }
  }
  if (!g["cells"].IsDefined() || !g["cells"].IsSequence() || g["cells"].size() == 0)
    fail("{}: cells: required, a list of {{architectures: [...], balancers: [...]}}", wg.file);
  for (std::size_t i = 0; i < g["cells"].size(); ++i) {
    const YAML::Node e = g["cells"][i];
    const std::string path = fmt::format("cells[{}]", i);
    check_keys(wg, e, path, {"architectures", "balancers"});
    if (!e["architectures"].IsDefined()) fail("{}: required", wg.at(e, path + ".architectures"));
    std::vector<std::string> as = names(wg, e["architectures"], path + ".architectures", p.architecture_order, "architecture (of the protocol)");
    std::vector<std::string> ms = e["balancers"].IsDefined()
                                      ? names(wg, e["balancers"], path + ".balancers", balancing::balancer_names(), "balancer")
                                      : std::vector<std::string>{"fixed"};
    for (const auto& a : as)
      for (const auto& m : ms)
        if (std::find(grid.pairs.begin(), grid.pairs.end(), std::make_pair(a, m)) == grid.pairs.end()) grid.pairs.emplace_back(a, m);
  }
  return grid;
}

// Builds the cells' configs: the protocol's fragments, the `--set` values, the cell's own keys.
struct CellBuilder {
  const Benchmark& b;
  const Protocol& p;
  fs::path out;  // absolute

  YAML::Node base(const std::string& group) const {
    YAML::Node cfg = YAML::Clone(p.common);
    merge_into(cfg, p.groups.at(group).config);
    return cfg;
  }
  void apply_sets(YAML::Node cfg) const {
    for (const auto& s : b.sets) config::apply_override(experiment_schema(), cfg, s);
  }
  // Every cell's config is validated (with the experiment's cross-key checks) before anything trains.
  void validate(Cell& cell, const YAML::Node& cfg) const {
    const std::string source = fmt::format("{} (cell {})", p.where.file, cell.name);
    config::Config c = config::Config::parse(experiment_schema(), emit(cfg), source);
    Experiment::from(c);
    cell.config = c.dump();
    cell.data_root = c.get_string("data.root");
  }

  Cell multi_task(const std::string& a, const std::string& m, std::uint64_t seed, bool with_single_task) const {
    Cell c;
    c.architecture = a;
    c.balancer = m;
    c.seed = seed;
    c.group = p.architectures.at(a).group;
    c.name = fmt::format("{}-{}-s{}", a, m, seed);
    YAML::Node cfg = base(c.group);
    merge_into(cfg, p.architectures.at(a).config);
    if (p.balancers.count(m)) merge_into(cfg, p.balancers.at(m));
    apply_sets(cfg);
    try {
      c.tasks = tasks::canonical(string_list(cfg["tasks"]["main"]));
    } catch (const Error& e) {
      fail("{} (cell {}): tasks.main: {}", p.where.file, c.name, e.what());
    }
    std::vector<std::string> all = c.tasks, aux = string_list(cfg["tasks"]["aux"]);
    all.insert(all.end(), aux.begin(), aux.end());
    fit_to_cell(cfg, all, balancing::balancer_entry(m).uses_loss_weights);
    cfg["model"]["architecture"] = a;
    cfg["balancer"]["name"] = m;
    cfg["seed"] = seed;
    cfg["name"] = c.name;
    const config::Spec* own = experiment_schema().child("model")->child(a);
    if (own && own->child("single_task_runs")) {
      if (!with_single_task)
        fail("{}: single_task: false, but {} starts from single-task runs (model.{}.single_task_runs)", b.grid_file.string(), a, a);
      YAML::Node runs(YAML::NodeType::Sequence);
      for (const auto& t : c.tasks) {
        std::string st = fmt::format("single_task-{}-{}-s{}", t, c.group, seed);
        c.needs.push_back(st);
        runs.push_back((out / "cells" / st / "run").string());
      }
      cfg["model"][a]["single_task_runs"] = runs;
    }
    validate(c, cfg);
    return c;
  }

  Cell single_task(const std::string& group, const std::string& t, std::uint64_t seed) const {
    Cell c;
    c.architecture = "single_task";
    c.balancer = "fixed";
    c.task = t;
    c.tasks = {t};
    c.seed = seed;
    c.group = group;
    c.name = fmt::format("single_task-{}-{}-s{}", t, group, seed);
    YAML::Node cfg = base(group);
    merge_into(cfg, p.single_task);
    merge_into(cfg, p.groups.at(group).single_task);
    apply_sets(cfg);
    fit_to_cell(cfg, {t}, true);
    cfg["tasks"]["main"] = std::vector<std::string>{t};
    if (cfg["tasks"]["aux"].IsDefined()) cfg["tasks"].remove("aux");
    cfg["model"]["architecture"] = "single_task";
    if (cfg["balancer"].IsDefined()) cfg.remove("balancer");
    cfg["seed"] = seed;
    cfg["name"] = c.name;
    validate(c, cfg);
    return c;
  }
};

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
  const Protocol p = read_protocol(b);
  const Grid grid = read_grid(b, p);
  const CellBuilder build{b, p, fs::weakly_canonical(fs::absolute(out))};

  // Each (architecture, balancer) per seed; then single-task cells for every task of a group's
  // multi-task cells, which come first in the benchmark's order.
  std::vector<Cell> multi;
  std::map<std::string, std::vector<std::string>> group_tasks;  // tasks needing single-task runs, per group
  for (const auto& [a, m] : grid.pairs)
    for (std::uint64_t seed : b.seeds) {
      multi.push_back(build.multi_task(a, m, seed, grid.with_single_task));
      auto& v = group_tasks[multi.back().group];
      for (const auto& t : multi.back().tasks)
        if (std::find(v.begin(), v.end(), t) == v.end()) v.push_back(t);
    }
  if (grid.with_single_task)
    for (const auto& group : b.groups) {
      if (!group_tasks.count(group)) continue;
      for (const auto& t : tasks::canonical(group_tasks[group]))
        for (std::uint64_t seed : b.seeds) b.cells.push_back(build.single_task(group, t, seed));
    }
  for (auto& c : multi) b.cells.push_back(std::move(c));
  return b;
}

}  // namespace densemtl::suite

#include "densemtl/vision/boundary_match.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>

#include "densemtl/core/parallel.h"
#include "densemtl/vision/thinning.h"

namespace densemtl::vision::boundary {

namespace {

constexpr std::int64_t kInf = std::numeric_limits<std::int64_t>::max() / 4;

struct Offset {
  int dy, dx;
  std::int64_t cost;
};

std::vector<Offset> offsets_within(double radius) {
  std::vector<Offset> out;
  int r = static_cast<int>(std::ceil(radius));
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx) {
      double d = std::sqrt(static_cast<double>(dx * dx + dy * dy));
      if (d <= radius) out.push_back({dy, dx, static_cast<std::int64_t>(std::llround(100.0 * d))});
    }
  std::sort(out.begin(), out.end(), [](const Offset& a, const Offset& b) { return a.cost < b.cost; });
  return out;
}

// Exact minimum-cost matching with outliers on one connected component. Left nodes (prediction)
// have adjacency lists into right nodes (ground truth) with costs c. Matching (i, j) changes the
// objective by c_ij - 2C (two outliers fewer), so we look for a minimum-cost flow from left to
// right with edge costs c - 2C and stop when the cheapest augmenting path no longer lowers the
// cost. Successive shortest paths with potentials keep reduced costs non-negative. Each phase
// runs Dijkstra from the side with fewer free nodes (forward from the free left nodes, or
// backward from the free right nodes), then augments: while many nodes are free, a maximal set
// of vertex-disjoint tight paths (all shortest, hence all optimal); later, the one path found.
// A phase costs time in proportion to the nodes it reaches, not to the component.
class ComponentSolver {
 public:
  ComponentSolver(int n_left, int n_right, const std::vector<int>& start, const std::vector<int>& right,
                  const std::vector<std::int64_t>& cost, std::int64_t two_c)
      : nl_(n_left), nr_(n_right), start_(start), right_(right), cost_(cost), k_(two_c),
        match_l_(static_cast<std::size_t>(n_left), -1), match_r_(static_cast<std::size_t>(n_right), -1),
        match_cost_r_(static_cast<std::size_t>(n_right), 0), pl_(static_cast<std::size_t>(n_left), 0),
        pr_(static_cast<std::size_t>(n_right), -two_c), pt_(-two_c), dl_(static_cast<std::size_t>(n_left), kInf),
        dr_(static_cast<std::size_t>(n_right), kInf), prev_l_(static_cast<std::size_t>(n_left), -1),
        prev_r_(static_cast<std::size_t>(n_right), -1), free_l_(n_left), free_r_(n_right) {
    build_reverse();
    for (int i = 0; i < n_left; ++i) free_left_.push_back(i);
    for (int j = 0; j < n_right; ++j) free_right_.push_back(j);
  }

  std::int64_t solve() {
    std::int64_t matches = 0;
    while (free_l_ > 0 && free_r_ > 0) {
      const bool backward = free_r_ < free_l_;
      int end = -1;  // forward: the free right node reached; backward: the free left node
      std::int64_t d = backward ? dijkstra_backward(end) : dijkstra(end);
      if (d >= kInf || d + pt_ >= 0) {  // no augmenting path, or none that lowers the cost
        reset_touched();
        break;
      }
      // Potentials. Forward: pi += min(dist, D) (unreached nodes: + D). Backward (distances to
      // the sink): pi += D - min(dist, D) (unreached nodes: + 0). Either keeps every reduced cost
      // non-negative, makes the shortest paths tight and keeps the free left nodes at 0.
      if (backward) {
        for (int i : touched_l_) pl_[static_cast<std::size_t>(i)] += d - std::min(dl_[static_cast<std::size_t>(i)], d);
        for (int j : touched_r_) pr_[static_cast<std::size_t>(j)] += d - std::min(dr_[static_cast<std::size_t>(j)], d);
      } else {
        for (int i = 0; i < nl_; ++i) pl_[static_cast<std::size_t>(i)] += std::min(dl_[static_cast<std::size_t>(i)], d);
        for (int j = 0; j < nr_; ++j) pr_[static_cast<std::size_t>(j)] += std::min(dr_[static_cast<std::size_t>(j)], d);
      }
      pt_ += d;
      std::int64_t found;
      if (std::min(free_l_, free_r_) > kManyFree) {
        reset_touched();
        found = augment_blocking();
      } else {
        found = augment_path(backward, end);
        reset_touched();
      }
      if (found == 0) break;  // cannot happen with consistent potentials; guards against loops
      matches += found;
      free_l_ -= static_cast<int>(found);
      free_r_ -= static_cast<int>(found);
    }
    return matches;
  }

  std::int64_t matched_cost() const {
    std::int64_t c = 0;
    for (int j = 0; j < nr_; ++j)
      if (match_r_[static_cast<std::size_t>(j)] >= 0) c += match_cost_r_[static_cast<std::size_t>(j)];
    return c;
  }

 private:
  static constexpr int kManyFree = 16;

  std::int64_t reduced_forward(int i, int e) const {
    int j = right_[static_cast<std::size_t>(e)];
    return cost_[static_cast<std::size_t>(e)] - k_ + pl_[static_cast<std::size_t>(i)] - pr_[static_cast<std::size_t>(j)];
  }
  std::int64_t reduced_backward(int j) const {
    int i = match_r_[static_cast<std::size_t>(j)];
    return -(match_cost_r_[static_cast<std::size_t>(j)] - k_) + pr_[static_cast<std::size_t>(j)] - pl_[static_cast<std::size_t>(i)];
  }
  std::int64_t reduced_to_sink(int j) const { return pr_[static_cast<std::size_t>(j)] - pt_; }

  // Right-to-left adjacency (with the forward edge index), for the backward search.
  void build_reverse() {
    rstart_.assign(static_cast<std::size_t>(nr_) + 1, 0);
    for (int e = 0; e < start_[static_cast<std::size_t>(nl_)]; ++e) ++rstart_[static_cast<std::size_t>(right_[static_cast<std::size_t>(e)]) + 1];
    for (int j = 0; j < nr_; ++j) rstart_[static_cast<std::size_t>(j) + 1] += rstart_[static_cast<std::size_t>(j)];
    rleft_.assign(static_cast<std::size_t>(start_[static_cast<std::size_t>(nl_)]), 0);
    redge_.assign(rleft_.size(), 0);
    std::vector<int> fill(rstart_.begin(), rstart_.end() - 1);
    for (int i = 0; i < nl_; ++i)
      for (int e = start_[static_cast<std::size_t>(i)]; e < start_[static_cast<std::size_t>(i) + 1]; ++e) {
        int slot = fill[static_cast<std::size_t>(right_[static_cast<std::size_t>(e)])]++;
        rleft_[static_cast<std::size_t>(slot)] = i;
        redge_[static_cast<std::size_t>(slot)] = e;
      }
  }

  void touch_l(int i, std::int64_t d) {
    if (dl_[static_cast<std::size_t>(i)] == kInf) touched_l_.push_back(i);
    dl_[static_cast<std::size_t>(i)] = d;
  }
  void touch_r(int j, std::int64_t d) {
    if (dr_[static_cast<std::size_t>(j)] == kInf) touched_r_.push_back(j);
    dr_[static_cast<std::size_t>(j)] = d;
  }
  void reset_touched() {
    for (int i : touched_l_) dl_[static_cast<std::size_t>(i)] = kInf;
    for (int j : touched_r_) dr_[static_cast<std::size_t>(j)] = kInf;
    touched_l_.clear();
    touched_r_.clear();
  }

  using Item = std::pair<std::int64_t, int>;  // distance, node (left: i, right: nl_ + j)
  using Heap = std::priority_queue<Item, std::vector<Item>, std::greater<Item>>;

  // The free nodes, compacted lazily (matching only ever removes nodes from these lists).
  const std::vector<int>& free_left() { return compact_free(free_left_, match_l_); }
  const std::vector<int>& free_right() { return compact_free(free_right_, match_r_); }
  static const std::vector<int>& compact_free(std::vector<int>& nodes, const std::vector<int>& match) {
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [&](int n) { return match[static_cast<std::size_t>(n)] >= 0; }),
                nodes.end());
    return nodes;
  }

  // Shortest reduced distance from the free left nodes to the sink.
  std::int64_t dijkstra(int& end) {
    Heap heap;
    for (int i : free_left()) {
        touch_l(i, 0);
        prev_l_[static_cast<std::size_t>(i)] = -1;
        heap.push({0, i});
      }
    std::int64_t best = kInf;
    while (!heap.empty()) {
      auto [d, node] = heap.top();
      heap.pop();
      if (d >= best) break;
      if (node < nl_) {
        int i = node;
        if (d != dl_[static_cast<std::size_t>(i)]) continue;
        for (int e = start_[static_cast<std::size_t>(i)]; e < start_[static_cast<std::size_t>(i) + 1]; ++e) {
          int j = right_[static_cast<std::size_t>(e)];
          if (match_l_[static_cast<std::size_t>(i)] == j) continue;
          std::int64_t nd = d + reduced_forward(i, e);
          if (nd < dr_[static_cast<std::size_t>(j)]) {
            touch_r(j, nd);
            prev_r_[static_cast<std::size_t>(j)] = e;
            heap.push({nd, nl_ + j});
          }
        }
      } else {
        int j = node - nl_;
        if (d != dr_[static_cast<std::size_t>(j)]) continue;
        int i = match_r_[static_cast<std::size_t>(j)];
        if (i < 0) {
          std::int64_t total = d + reduced_to_sink(j);
          if (total < best) {
            best = total;
            end = j;
          }
          continue;
        }
        std::int64_t nd = d + reduced_backward(j);
        if (nd < dl_[static_cast<std::size_t>(i)]) {
          touch_l(i, nd);
          prev_l_[static_cast<std::size_t>(i)] = j;
          heap.push({nd, i});
        }
      }
    }
    return best;
  }

  // Shortest reduced distance to the sink (a search over reversed residual edges from the free
  // right nodes), stopping at the nearest free left node.
  std::int64_t dijkstra_backward(int& end) {
    Heap heap;
    for (int j : free_right()) {
        touch_r(j, reduced_to_sink(j));
        prev_r_[static_cast<std::size_t>(j)] = -1;
        heap.push({dr_[static_cast<std::size_t>(j)], nl_ + j});
      }
    while (!heap.empty()) {
      auto [d, node] = heap.top();
      heap.pop();
      if (node < nl_) {
        int i = node;
        if (d != dl_[static_cast<std::size_t>(i)]) continue;
        int m = match_l_[static_cast<std::size_t>(i)];
        if (m < 0) {
          end = i;
          return d;
        }
        // Reversed edge m -> i (i's matched edge).
        std::int64_t nd = d + reduced_backward(m);
        if (nd < dr_[static_cast<std::size_t>(m)]) {
          touch_r(m, nd);
          prev_r_[static_cast<std::size_t>(m)] = -2 - i;  // reached from left node i
          heap.push({nd, nl_ + m});
        }
      } else {
        int j = node - nl_;
        if (d != dr_[static_cast<std::size_t>(j)]) continue;
        for (int s = rstart_[static_cast<std::size_t>(j)]; s < rstart_[static_cast<std::size_t>(j) + 1]; ++s) {
          int i = rleft_[static_cast<std::size_t>(s)];
          if (match_l_[static_cast<std::size_t>(i)] == j) continue;
          int e = redge_[static_cast<std::size_t>(s)];
          std::int64_t nd = d + reduced_forward(i, e);
          if (nd < dl_[static_cast<std::size_t>(i)]) {
            touch_l(i, nd);
            prev_l_[static_cast<std::size_t>(i)] = e;  // leaves i along forward edge e
            heap.push({nd, i});
          }
        }
      }
    }
    return kInf;
  }

  void set_match(int i, int e) {
    int j = right_[static_cast<std::size_t>(e)];
    match_l_[static_cast<std::size_t>(i)] = j;
    match_r_[static_cast<std::size_t>(j)] = i;
    match_cost_r_[static_cast<std::size_t>(j)] = cost_[static_cast<std::size_t>(e)];
  }

  // Augments the single shortest path the last search found.
  std::int64_t augment_path(bool backward, int end) {
    if (end < 0) return 0;
    if (!backward) {
      // Walk back from the free right node: right j <- (edge) left i <- (matched) right j' ...
      int j = end;
      while (true) {
        int e = prev_r_[static_cast<std::size_t>(j)];
        int i = left_of_edge(e);
        int previous_j = prev_l_[static_cast<std::size_t>(i)];  // -1 for the free root
        set_match(i, e);
        if (previous_j < 0) break;
        j = previous_j;
      }
    } else {
      // Walk forward from the free left node: left i -(edge)-> right j -(matched, reversed)-> ...
      int i = end;
      while (true) {
        int e = prev_l_[static_cast<std::size_t>(i)];
        int j = right_[static_cast<std::size_t>(e)];
        int next = prev_r_[static_cast<std::size_t>(j)];  // -1: j is free (the sink side)
        set_match(i, e);
        if (next == -1) break;
        i = -2 - next;
      }
    }
    return 1;
  }

  int left_of_edge(int e) const {
    auto it = std::upper_bound(start_.begin(), start_.begin() + nl_ + 1, e);
    return static_cast<int>(it - start_.begin()) - 1;
  }

  // Vertex-disjoint augmenting paths over zero reduced-cost edges (iterative DFS with current
  // arcs: a right node visited in this phase is not visited again).
  std::int64_t augment_blocking() {
    std::vector<char> seen_r(static_cast<std::size_t>(nr_), 0);
    std::vector<int> next_edge(start_.begin(), start_.end() - 1);
    std::vector<int> nodes, edges;  // edges[s] leads from nodes[s] to nodes[s + 1]
    std::int64_t found = 0;
    std::vector<int> roots = free_left();
    for (int root : roots) {
      if (match_l_[static_cast<std::size_t>(root)] >= 0) continue;
      nodes.assign(1, root);
      edges.clear();
      while (!nodes.empty()) {
        int i = nodes.back();
        int& e = next_edge[static_cast<std::size_t>(i)];
        if (e >= start_[static_cast<std::size_t>(i) + 1]) {  // dead end
          nodes.pop_back();
          if (!edges.empty()) edges.pop_back();
          continue;
        }
        int edge = e++;
        int j = right_[static_cast<std::size_t>(edge)];
        if (seen_r[static_cast<std::size_t>(j)] || match_l_[static_cast<std::size_t>(i)] == j || reduced_forward(i, edge) != 0) continue;
        int k = match_r_[static_cast<std::size_t>(j)];
        if (k < 0) {
          if (reduced_to_sink(j) != 0) continue;
          seen_r[static_cast<std::size_t>(j)] = 1;
          edges.push_back(edge);
          for (std::size_t s = 0; s < nodes.size(); ++s) set_match(nodes[s], edges[s]);
          ++found;
          break;
        }
        if (reduced_backward(j) != 0) continue;
        seen_r[static_cast<std::size_t>(j)] = 1;
        edges.push_back(edge);
        nodes.push_back(k);
      }
    }
    return found;
  }

  int nl_, nr_;
  const std::vector<int>& start_;
  const std::vector<int>& right_;
  const std::vector<std::int64_t>& cost_;
  std::int64_t k_;
  std::vector<int> rstart_, rleft_, redge_;
  std::vector<int> match_l_, match_r_;
  std::vector<std::int64_t> match_cost_r_;
  std::vector<std::int64_t> pl_, pr_;
  std::int64_t pt_;
  std::vector<std::int64_t> dl_, dr_;
  std::vector<int> prev_l_, prev_r_;
  std::vector<int> touched_l_, touched_r_;
  std::vector<int> free_left_, free_right_;
  int free_l_, free_r_;
};

// The same problem as BSDS poses it: a perfect assignment between persons (prediction pixels and
// one outlier stand-in per ground-truth pixel) and objects (ground-truth pixels and one outlier
// stand-in per prediction pixel). A prediction pixel takes a ground-truth pixel within the gate
// (cost c) or its own stand-in (cost C); a ground-truth stand-in takes its own pixel (cost C) or
// any prediction stand-in (cost 0) - that complete zero-cost block is kept implicit, through a
// heap of the stand-ins' prices. Solved with Bertsekas' forward auction and epsilon scaling;
// benefits are scaled by n + 1 (n persons) and the last phase runs with epsilon = 1, so its
// epsilon-complementary slackness makes the assignment exactly optimal for the integer costs.
class AuctionSolver {
 public:
  AuctionSolver(int n_left, int n_right, const std::vector<int>& start, const std::vector<int>& right,
                const std::vector<std::int64_t>& cost, std::int64_t outlier)
      : nl_(n_left), nr_(n_right), start_(start), right_(right), cost_(cost), scale_(n_left + n_right + 1),
        c_(outlier * (n_left + n_right + 1)), price_(static_cast<std::size_t>(n_left + n_right), 0),
        owner_(static_cast<std::size_t>(n_left + n_right), -1), assigned_(static_cast<std::size_t>(n_left + n_right), -1) {}

  // Returns the number of prediction pixels assigned to ground-truth pixels.
  std::int64_t solve() {
    std::int64_t eps = std::max<std::int64_t>(1, c_ / 4);
    while (true) {
      phase(eps);
      if (eps == 1) break;
      eps = std::max<std::int64_t>(1, eps / 6);
    }
    std::int64_t matches = 0;
    for (int i = 0; i < nl_; ++i)
      if (assigned_[static_cast<std::size_t>(i)] >= 0 && assigned_[static_cast<std::size_t>(i)] < nr_) ++matches;
    return matches;
  }

  std::int64_t matched_cost() const {
    std::int64_t total = 0;
    for (int i = 0; i < nl_; ++i) {
      int o = assigned_[static_cast<std::size_t>(i)];
      if (o < 0 || o >= nr_) continue;
      for (int e = start_[static_cast<std::size_t>(i)]; e < start_[static_cast<std::size_t>(i) + 1]; ++e)
        if (right_[static_cast<std::size_t>(e)] == o) total += cost_[static_cast<std::size_t>(e)];
    }
    return total;
  }

 private:
  // Objects: ground-truth pixels 0..nr-1, prediction stand-ins nr..nr+nl-1.
  // Persons: prediction pixels 0..nl-1, ground-truth stand-ins nl..nl+nr-1.
  int standin_object(int i) const { return nr_ + i; }

  void push_standin(int object) { heap_.push({price_[static_cast<std::size_t>(object)], object}); }

  // The cheapest two prediction stand-ins (lazy heap: entries whose price changed are stale).
  void cheapest_two(int& first, std::int64_t& p1, std::int64_t& p2) {
    auto valid_top = [&]() {
      while (!heap_.empty() && heap_.top().first != price_[static_cast<std::size_t>(heap_.top().second)]) heap_.pop();
    };
    valid_top();
    auto top = heap_.top();
    heap_.pop();
    first = top.second;
    p1 = top.first;
    valid_top();
    p2 = heap_.empty() ? std::numeric_limits<std::int64_t>::max() / 4 : heap_.top().first;
    heap_.push(top);
  }

  void assign(int person, int object, std::int64_t new_price, std::vector<int>& unassigned) {
    int previous = owner_[static_cast<std::size_t>(object)];
    if (previous >= 0) {
      assigned_[static_cast<std::size_t>(previous)] = -1;
      unassigned.push_back(previous);
    }
    owner_[static_cast<std::size_t>(object)] = person;
    assigned_[static_cast<std::size_t>(person)] = object;
    price_[static_cast<std::size_t>(object)] = new_price;
    if (object >= nr_) push_standin(object);
  }

  void phase(std::int64_t eps) {
    const std::int64_t none = std::numeric_limits<std::int64_t>::min() / 4;
    std::fill(owner_.begin(), owner_.end(), -1);
    std::fill(assigned_.begin(), assigned_.end(), -1);
    heap_ = {};
    for (int i = 0; i < nl_; ++i) push_standin(standin_object(i));
    std::vector<int> unassigned;
    for (int x = nl_ + nr_ - 1; x >= 0; --x) unassigned.push_back(x);
    while (!unassigned.empty()) {
      int x = unassigned.back();
      unassigned.pop_back();
      std::int64_t v1 = none, v2 = none;
      int best = -1;
      auto offer = [&](int object, std::int64_t benefit) {
        std::int64_t v = benefit - price_[static_cast<std::size_t>(object)];
        if (v > v1) {
          v2 = v1;
          v1 = v;
          best = object;
        } else if (v > v2) {
          v2 = v;
        }
      };
      if (x < nl_) {
        for (int e = start_[static_cast<std::size_t>(x)]; e < start_[static_cast<std::size_t>(x) + 1]; ++e)
          offer(right_[static_cast<std::size_t>(e)], -scale_ * cost_[static_cast<std::size_t>(e)]);
        offer(standin_object(x), -c_);
      } else {
        int j = x - nl_;
        offer(j, -c_);
        int first;
        std::int64_t p1, p2;
        cheapest_two(first, p1, p2);
        offer(first, 0);
        if (p2 < std::numeric_limits<std::int64_t>::max() / 4) {
          std::int64_t v = -p2;
          if (v > v2) v2 = v;
        }
      }
      if (v2 == none) v2 = v1 - c_;  // a single option: any increment keeps it
      std::int64_t benefit = v1 + price_[static_cast<std::size_t>(best)];
      assign(x, best, benefit - v2 + eps, unassigned);
    }
  }

  int nl_, nr_;
  const std::vector<int>& start_;
  const std::vector<int>& right_;
  const std::vector<std::int64_t>& cost_;
  std::int64_t scale_, c_;
  std::vector<std::int64_t> price_;
  std::vector<int> owner_, assigned_;
  std::priority_queue<std::pair<std::int64_t, int>, std::vector<std::pair<std::int64_t, int>>, std::greater<>> heap_;
};

int find(std::vector<int>& parent, int x) {
  while (parent[static_cast<std::size_t>(x)] != x) {
    parent[static_cast<std::size_t>(x)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
    x = parent[static_cast<std::size_t>(x)];
  }
  return x;
}

}  // namespace

GroundTruth::GroundTruth(const cv::Mat& boundaries, double max_dist, double outlier_cost)
    : size_(boundaries.size()) {
  CV_Assert(boundaries.type() == CV_8U);
  const int h = size_.height, w = size_.width;
  radius_ = max_dist * std::sqrt(static_cast<double>(h) * h + static_cast<double>(w) * w);
  outlier_ = std::llround(100.0 * outlier_cost * radius_);
  grid_.assign(static_cast<std::size_t>(h) * static_cast<std::size_t>(w), -1);
  for (int y = 0; y < h; ++y) {
    const auto* g = boundaries.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x)
      if (g[x]) {
        grid_[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)] = static_cast<int>(points_.size());
        points_.emplace_back(x, y);
      }
  }
  for (const auto& o : offsets_within(radius_)) offsets_.push_back({o.dy, o.dx, o.cost});
}

Match correspond(const cv::Mat& prediction, const GroundTruth& gt, Algorithm algorithm) {
  CV_Assert(prediction.size() == gt.size() && prediction.type() == CV_8U);
  const int h = prediction.rows, w = prediction.cols;
  const std::int64_t outlier = gt.outlier_;
  std::vector<cv::Point> pr_px;
  for (int y = 0; y < h; ++y) {
    const auto* p = prediction.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x)
      if (p[x]) pr_px.emplace_back(x, y);
  }
  const int nl = static_cast<int>(pr_px.size()), nr = static_cast<int>(gt.points_.size());
  // Gated edges (CSR), nearest first; union-find over left (0..nl-1) and right (nl..) nodes.
  std::vector<int> start(static_cast<std::size_t>(nl) + 1, 0), right;
  std::vector<std::int64_t> cost;
  std::vector<int> parent(static_cast<std::size_t>(nl + nr));
  std::iota(parent.begin(), parent.end(), 0);
  for (int i = 0; i < nl; ++i) {
    const cv::Point& p = pr_px[static_cast<std::size_t>(i)];
    for (const auto& o : gt.offsets_) {
      int y = p.y + o.dy, x = p.x + o.dx;
      if (y < 0 || x < 0 || y >= h || x >= w) continue;
      int j = gt.grid_[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)];
      if (j < 0) continue;
      right.push_back(j);
      cost.push_back(o.cost);
      int a = find(parent, i), b = find(parent, nl + j);
      if (a != b) parent[static_cast<std::size_t>(a)] = b;
    }
    start[static_cast<std::size_t>(i) + 1] = static_cast<int>(right.size());
  }
  // Group nodes by component and solve each one.
  std::vector<int> comp_of(static_cast<std::size_t>(nl + nr), -1);
  std::vector<std::vector<int>> comp_left, comp_right;
  for (int v = 0; v < nl + nr; ++v) {
    int r = find(parent, v);
    int& c = comp_of[static_cast<std::size_t>(r)];
    if (c < 0) {
      c = static_cast<int>(comp_left.size());
      comp_left.emplace_back();
      comp_right.emplace_back();
    }
    if (v < nl) comp_left[static_cast<std::size_t>(c)].push_back(v);
    else comp_right[static_cast<std::size_t>(c)].push_back(v - nl);
  }
  Match m;
  std::vector<int> local_r(static_cast<std::size_t>(nr), -1);
  std::int64_t matched_cost = 0;
  for (std::size_t c = 0; c < comp_left.size(); ++c) {
    const auto& L = comp_left[c];
    const auto& R = comp_right[c];
    if (L.empty() || R.empty()) continue;
    if (L.size() == 1 && R.size() == 1) {  // one gated pair: matching it always pays
      ++m.matches;
      matched_cost += cost[static_cast<std::size_t>(start[static_cast<std::size_t>(L[0])])];
      continue;
    }
    for (std::size_t k = 0; k < R.size(); ++k) local_r[static_cast<std::size_t>(R[k])] = static_cast<int>(k);
    std::vector<int> s(L.size() + 1, 0), rr;
    std::vector<std::int64_t> cc;
    for (std::size_t k = 0; k < L.size(); ++k) {
      int i = L[k];
      for (int e = start[static_cast<std::size_t>(i)]; e < start[static_cast<std::size_t>(i) + 1]; ++e) {
        rr.push_back(local_r[static_cast<std::size_t>(right[static_cast<std::size_t>(e)])]);
        cc.push_back(cost[static_cast<std::size_t>(e)]);
      }
      s[k + 1] = static_cast<int>(rr.size());
    }
    if (algorithm == Algorithm::Auction) {
      AuctionSolver solver(static_cast<int>(L.size()), static_cast<int>(R.size()), s, rr, cc, outlier);
      m.matches += solver.solve();
      matched_cost += solver.matched_cost();
    } else {
      ComponentSolver solver(static_cast<int>(L.size()), static_cast<int>(R.size()), s, rr, cc, 2 * outlier);
      m.matches += solver.solve();
      matched_cost += solver.matched_cost();
    }
  }
  m.cost = matched_cost + outlier * (static_cast<std::int64_t>(nl) + nr - 2 * m.matches);
  return m;
}

Match correspond(const cv::Mat& prediction, const cv::Mat& ground_truth, double max_dist, double outlier_cost,
                 Algorithm algorithm) {
  CV_Assert(prediction.size() == ground_truth.size() && ground_truth.type() == CV_8U);
  return correspond(prediction, GroundTruth(ground_truth, max_dist, outlier_cost), algorithm);
}

std::vector<double> thresholds(int n) {
  std::vector<double> t;
  if (n == 99) {
    for (int i = 1; i <= 99; ++i) t.push_back(i / 100.0);
  } else {
    for (int i = 1; i <= n; ++i) t.push_back(static_cast<double>(i) / (n + 1));
  }
  return t;
}

std::vector<Counts> image_counts(const cv::Mat& prediction, const cv::Mat& ground_truth, const std::vector<double>& ts,
                                 double max_dist, int threads) {
  CV_Assert(prediction.type() == CV_8U && prediction.size() == ground_truth.size());
  cv::Mat thinned = vision::thin(ground_truth != 0);
  const GroundTruth gt(thinned, max_dist);
  std::int64_t sum_r = cv::countNonZero(thinned);
  std::vector<Counts> out(ts.size());
  parallel_for(ts.size(), threads, [&](std::size_t k) {
    // p / 255 >= t, with t at 1/100 steps: compare integer levels exactly.
    cv::Mat e(prediction.size(), CV_8U);
    const double level = ts[k] * 255.0;
    for (int y = 0; y < e.rows; ++y) {
      const auto* p = prediction.ptr<std::uint8_t>(y);
      auto* o = e.ptr<std::uint8_t>(y);
      for (int x = 0; x < e.cols; ++x) o[x] = p[x] >= level - 1e-9 ? 1 : 0;
    }
    e = vision::thin(e);
    Counts c;
    c.sum_r = sum_r;
    c.sum_p = cv::countNonZero(e);
    if (c.sum_p > 0 && sum_r > 0) {
      Match m = correspond(e, gt);
      c.cnt_r = c.cnt_p = m.matches;
    }
    out[k] = c;
  });
  return out;
}

void recall_precision(std::int64_t cnt_r, std::int64_t sum_r, std::int64_t cnt_p, std::int64_t sum_p, double& r, double& p) {
  if (sum_r == 0) {
    r = 1;
    p = 0;
  } else if (sum_p == 0) {
    r = 0;
    p = 1;
  } else {
    r = static_cast<double>(cnt_r) / static_cast<double>(sum_r);
    p = static_cast<double>(cnt_p) / static_cast<double>(sum_p);
  }
}

double f_measure(double r, double p) { return r + p > 0 ? 2 * p * r / (p + r) : 0.0; }

Summary aggregate(const std::vector<std::vector<Counts>>& counts, const std::vector<double>& ts) {
  Summary s;
  const std::size_t nt = ts.size();
  // ODS: counts summed over images per threshold.
  std::vector<double> R(nt), P(nt), F(nt);
  for (std::size_t t = 0; t < nt; ++t) {
    std::int64_t cr = 0, sr = 0, cp = 0, sp = 0;
    for (const auto& img : counts) {
      cr += img[t].cnt_r;
      sr += img[t].sum_r;
      cp += img[t].cnt_p;
      sp += img[t].sum_p;
    }
    recall_precision(cr, sr, cp, sp, R[t], P[t]);
    F[t] = f_measure(R[t], P[t]);
  }
  std::size_t best = static_cast<std::size_t>(std::max_element(F.begin(), F.end()) - F.begin());
  s.ods_f = F[best];
  s.ods_p = P[best];
  s.ods_r = R[best];
  s.ods_t = ts[best];
  // OIS: each image at its own best threshold, counts summed, F computed once.
  std::int64_t cr = 0, sr = 0, cp = 0, sp = 0;
  for (const auto& img : counts) {
    std::size_t b = 0;
    double bf = -1;
    for (std::size_t t = 0; t < nt; ++t) {
      double r, p;
      recall_precision(img[t].cnt_r, img[t].sum_r, img[t].cnt_p, img[t].sum_p, r, p);
      double f = f_measure(r, p);
      if (f > bf) {
        bf = f;
        b = t;
      }
    }
    cr += img[b].cnt_r;
    sr += img[b].sum_r;
    cp += img[b].cnt_p;
    sp += img[b].sum_p;
  }
  recall_precision(cr, sr, cp, sp, s.ois_r, s.ois_p);
  s.ois_f = f_measure(s.ois_r, s.ois_p);
  // AP: unique recalls (the last threshold of each run of equal recall, as MATLAB's legacy
  // unique), sorted by recall; precision interpolated linearly at recall 0:0.01:1; the values
  // inside the recall range summed and divided by 100.
  std::vector<std::pair<double, double>> rp;  // recall, precision
  for (std::size_t t = 0; t < nt; ++t) {
    bool later_same = false;
    for (std::size_t u = t + 1; u < nt; ++u) later_same |= R[u] == R[t];
    if (!later_same) rp.emplace_back(R[t], P[t]);
  }
  std::sort(rp.begin(), rp.end());
  double ap = 0;
  if (rp.size() > 1) {
    for (int q = 0; q <= 100; ++q) {
      double r = q / 100.0;
      if (r < rp.front().first || r > rp.back().first) continue;
      auto hi = std::lower_bound(rp.begin(), rp.end(), std::make_pair(r, -1.0));
      double p;
      if (hi->first == r) {
        p = hi->second;
      } else {
        auto lo = hi - 1;
        double a = (r - lo->first) / (hi->first - lo->first);
        p = lo->second + a * (hi->second - lo->second);
      }
      ap += p;
    }
  }
  s.ap = ap / 100.0;
  return s;
}

}  // namespace densemtl::vision::boundary

#include "densemtl/vision/boundary_match.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>

#include <opencv2/imgproc.hpp>

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

// A 4-ary min-heap of (distance, node): shallower than a binary heap, its children share a cache
// line.
class QuadHeap {
 public:
  using Item = std::pair<std::int64_t, int>;
  void clear() { items_.clear(); }
  bool empty() const { return items_.empty(); }
  const Item& top() const { return items_.front(); }
  void push(Item item) {
    std::size_t i = items_.size();
    items_.push_back(item);
    while (i > 0) {
      const std::size_t parent = (i - 1) / 4;
      if (!(item < items_[parent])) break;
      items_[i] = items_[parent];
      i = parent;
    }
    items_[i] = item;
  }
  Item pop() {
    const Item out = items_.front();
    const Item last = items_.back();
    items_.pop_back();
    const std::size_t n = items_.size();
    if (n == 0) return out;
    std::size_t i = 0;
    while (true) {
      const std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      const std::size_t end = std::min(first + 4, n);
      for (std::size_t c = first + 1; c < end; ++c)
        if (items_[c] < items_[best]) best = c;
      if (!(items_[best] < last)) break;
      items_[i] = items_[best];
      i = best;
    }
    items_[i] = last;
    return out;
  }

 private:
  std::vector<Item> items_;
};

struct IncrementalMatcher::State {
  // Nodes: ground-truth pixels 0 .. nr - 1, then prediction pixels nr, nr + 1, ... in the order they
  // first appeared (a pixel keeps its node when it leaves the set and comes back). A prediction
  // node lists its gated ground-truth neighbours once (edge_start/edge_gt/edge_cost); the
  // prediction neighbours of a ground-truth node are read from the set's bits inside the gate.
  int width = 0, height = 0, nr = 0;
  std::int64_t scale = 1, two_c = 0;
  double radius = 0;
  // Ground-truth pixels by row (they are listed in raster order): row y holds gt_x[row_start[y] ..
  // row_start[y + 1]); the gate spans columns x +- half_width[|dy|] on row y + dy, at cost
  // gate_cost[|dy|][|dx|].
  std::vector<int> row_start, gt_x, gt_y, half_width;
  std::vector<std::vector<int>> gate_cost;
  std::vector<float> gt_distance;  // Euclidean distance to the nearest ground-truth pixel
  std::vector<int> node_of;        // pixel -> prediction node (-1: never in the set)
  BitImage current;                // the prediction set now
  std::vector<int> edge_start{0};  // by prediction node - nr
  std::vector<int> edge_gt, edge_cost;
  // Per node: in the set (ground truth always), partner (-1: free), dual, search distance and
  // predecessor.
  std::vector<char> in_set;
  std::vector<int> mate, prev;
  std::vector<std::int64_t> dual, dist;
  std::int64_t matches = 0;
  std::vector<int> deficient;  // free nodes whose dual is positive (checked again when taken)
  std::vector<int> touched, settled;
  QuadHeap heap;

  std::int64_t weight(std::int64_t cost) const { return scale * (two_c - cost) - 1; }
  bool is_gt(int n) const { return n < nr; }
  int first_edge(int n) const { return edge_start[static_cast<std::size_t>(n - nr)]; }
  int last_edge(int n) const { return edge_start[static_cast<std::size_t>(n - nr) + 1]; }

  int add_node(int pixel) {
    const int n = static_cast<int>(mate.size());
    const int y = pixel / width, x = pixel % width;
    // (Pixels farther than the gate from every ground-truth pixel have no edges; the margin only
    // covers float rounding of the distance transform; the gate decides.)
    if (gt_distance[static_cast<std::size_t>(pixel)] <= radius + 0.01) {
      const int reach = static_cast<int>(half_width.size()) - 1;
      for (int yy = std::max(0, y - reach); yy <= std::min(height - 1, y + reach); ++yy) {
        const int ady = std::abs(yy - y), hw = half_width[static_cast<std::size_t>(ady)];
        const auto first = gt_x.begin() + row_start[static_cast<std::size_t>(yy)];
        const auto last = gt_x.begin() + row_start[static_cast<std::size_t>(yy) + 1];
        for (auto it = std::lower_bound(first, last, x - hw); it != last && *it <= x + hw; ++it) {
          edge_gt.push_back(static_cast<int>(it - gt_x.begin()));
          edge_cost.push_back(gate_cost[static_cast<std::size_t>(ady)][static_cast<std::size_t>(std::abs(*it - x))]);
        }
      }
    }
    edge_start.push_back(static_cast<int>(edge_gt.size()));
    in_set.push_back(0);
    mate.push_back(-1);
    prev.push_back(-1);
    dual.push_back(0);
    dist.push_back(kInf);
    node_of[static_cast<std::size_t>(pixel)] = n;
    return n;
  }

  void pair(int a, int b) {
    mate[static_cast<std::size_t>(a)] = b;
    mate[static_cast<std::size_t>(b)] = a;
  }

  // A pixel joins: u = max(0, max (w - v)) keeps every edge feasible. When its best neighbour is
  // free, the Hungarian step would augment to it at distance 0, so they are paired directly.
  void join(int n) {
    std::int64_t u = 0;
    int best = -1;
    for (int e = first_edge(n); e < last_edge(n); ++e) {
      const auto ue = static_cast<std::size_t>(e);
      const int j = edge_gt[ue];
      const std::int64_t slack = weight(edge_cost[ue]) - dual[static_cast<std::size_t>(j)];
      if (slack > u || (slack == u && best >= 0 && mate[static_cast<std::size_t>(j)] < 0 && mate[static_cast<std::size_t>(best)] >= 0)) {
        u = slack;
        best = j;
      }
    }
    const auto un = static_cast<std::size_t>(n);
    in_set[un] = 1;
    dual[un] = u;
    mate[un] = -1;
    if (u <= 0) return;
    if (mate[static_cast<std::size_t>(best)] < 0) {
      pair(n, best);
      ++matches;
      return;
    }
    deficient.push_back(n);
  }

  // A pixel leaves: its partner becomes free.
  void leave(int n) {
    const auto un = static_cast<std::size_t>(n);
    in_set[un] = 0;
    dual[un] = 0;
    const int j = mate[un];
    if (j < 0) return;
    mate[un] = -1;
    mate[static_cast<std::size_t>(j)] = -1;
    --matches;
    if (dual[static_cast<std::size_t>(j)] > 0) deficient.push_back(j);
  }

  // Calls f(node, cost) for every prediction pixel in the set within the gate of ground-truth node j.
  template <class F>
  void for_each_prediction_near(int j, F&& f) const {
    const int reach = static_cast<int>(half_width.size()) - 1;
    const int y = gt_y[static_cast<std::size_t>(j)], x = gt_x[static_cast<std::size_t>(j)];
    for (int yy = std::max(0, y - reach); yy <= std::min(height - 1, y + reach); ++yy) {
      const int ady = std::abs(yy - y), hw = half_width[static_cast<std::size_t>(ady)];
      const auto& costs = gate_cost[static_cast<std::size_t>(ady)];
      const std::uint64_t* row = current.row(yy);
      // Bits x - hw + 1 .. x + hw + 1 of the row (the frame bit shifts pixels by one).
      const int lo = std::max(0, x - hw) + 1, hi = std::min(width - 1, x + hw) + 1;
      for (int w = lo >> 6; w <= hi >> 6; ++w) {
        std::uint64_t bits = row[w];
        const int base = w << 6;
        if (base < lo) bits &= ~std::uint64_t{0} << (lo - base);
        if (base + 63 > hi) bits &= ~std::uint64_t{0} >> (base + 63 - hi);
        for (; bits; bits &= bits - 1) {
          const int xx = base + __builtin_ctzll(bits) - 1;
          f(node_of[static_cast<std::size_t>(yy) * static_cast<std::size_t>(width) + static_cast<std::size_t>(xx)],
            costs[static_cast<std::size_t>(std::abs(xx - x))]);
        }
      }
    }
  }

  void set_dist(int n, std::int64_t d, int from) {
    std::int64_t& slot = dist[static_cast<std::size_t>(n)];
    if (slot == kInf) touched.push_back(n);
    slot = d;
    prev[static_cast<std::size_t>(n)] = from;
  }

  // The Hungarian step from a free node with a positive dual (see the class comment). Dijkstra over
  // reduced costs u + v - w grows the alternating tree; a node of the other side is never queued:
  // if free it is an augmenting end, if matched its partner follows at the same distance (matched
  // edges are tight). The best event so far bounds the search: the root side's nodes leave at
  // distance + dual, free nodes of the other side end a path at their distance; nothing at or
  // beyond that distance can change the step, so it is neither queued nor settled.
  void repair(int root) {
    heap.clear();
    settled.clear();
    std::int64_t best = dual[static_cast<std::size_t>(root)];
    int best_node = root;
    set_dist(root, 0, -1);
    heap.push({0, root});
    while (!heap.empty() && heap.top().first < best) {
      const auto top = heap.pop();
      const std::int64_t d = top.first;  // (not a structured binding: the lambda below captures it)
      const int n = top.second;
      const auto un = static_cast<std::size_t>(n);
      if (d != dist[un]) continue;
      settled.push_back(n);
      const std::int64_t dn = dual[un];
      if (d + dn < best) {
        best = d + dn;
        best_node = n;
      }
      const int own = mate[un];
      auto relax = [&](int other, std::int64_t cost) {
        const auto uo = static_cast<std::size_t>(other);
        const std::int64_t nd = d + dn + dual[uo] - weight(cost);
        if (nd >= best || nd >= dist[uo] || other == own) return;
        set_dist(other, nd, n);
        const int next = mate[uo];
        if (next < 0) {  // an augmenting path ends here
          best = nd;
          best_node = other;
        } else if (nd < dist[static_cast<std::size_t>(next)]) {
          set_dist(next, nd, other);
          heap.push({nd, next});
        }
      };
      if (is_gt(n)) {
        for_each_prediction_near(n, relax);
      } else {
        for (int e = first_edge(n); e < last_edge(n); ++e) relax(edge_gt[static_cast<std::size_t>(e)], edge_cost[static_cast<std::size_t>(e)]);
      }
    }
    // Duals from the distances: the root side's settled nodes lose best - D, their partners on the
    // tree (reached at the same distance) gain it.
    for (int n : settled) {
      const std::int64_t delta = best - dist[static_cast<std::size_t>(n)];
      if (delta <= 0) continue;
      dual[static_cast<std::size_t>(n)] -= delta;
      if (n != root) dual[static_cast<std::size_t>(prev[static_cast<std::size_t>(n)])] += delta;
    }
    // Flip the path from the root: to best_node when it is a free node of the other side (one more
    // pair); to best_node's partner when best_node is of the root's side (best_node leaves).
    if (best_node != root) {
      int cur = best_node;
      if (is_gt(best_node) == is_gt(root)) {
        cur = mate[static_cast<std::size_t>(best_node)];
        mate[static_cast<std::size_t>(best_node)] = -1;
      } else {
        ++matches;
      }
      while (true) {
        const int n = prev[static_cast<std::size_t>(cur)];  // root side
        const int old = mate[static_cast<std::size_t>(n)];
        pair(n, cur);
        if (n == root) break;
        cur = old;
      }
    }
    for (int n : touched) dist[static_cast<std::size_t>(n)] = kInf;
    touched.clear();
  }

  // Pixels that left the set are taken out first, so that a pixel joining next to a freed
  // ground-truth pixel (a boundary shifted by one) can take it over directly.
  std::int64_t update(const BitImage& prediction) {
    CV_Assert(prediction.rows() == current.rows() && prediction.cols() == current.cols());
    for (int pass = 0; pass < 2; ++pass)
      for (int y = 0; y < current.rows(); ++y) {
        const std::uint64_t* p = prediction.row(y);
        std::uint64_t* c = current.row(y);
        for (int k = 0; k < current.words(); ++k) {
          std::uint64_t diff = pass == 0 ? c[k] & ~p[k] : p[k] & ~c[k];
          if (!diff) continue;
          c[k] ^= diff;
          while (diff) {
            const int b = __builtin_ctzll(diff);
            diff &= diff - 1;
            const int pixel = y * width + 64 * k + b - 1;
            int n = node_of[static_cast<std::size_t>(pixel)];
            if (pass == 0) {
              leave(n);
            } else {
              if (n < 0) n = add_node(pixel);
              join(n);
            }
          }
        }
      }
    while (!deficient.empty()) {
      const int n = deficient.back();
      deficient.pop_back();
      const auto un = static_cast<std::size_t>(n);
      if (in_set[un] && mate[un] < 0 && dual[un] > 0) repair(n);
    }
    return matches;
  }
};

IncrementalMatcher::IncrementalMatcher(const GroundTruth& gt) : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.width = gt.size_.width;
  s.height = gt.size_.height;
  s.nr = static_cast<int>(gt.points_.size());
  s.radius = gt.radius_;
  s.row_start.assign(static_cast<std::size_t>(s.height) + 1, 0);
  for (const auto& p : gt.points_) {
    ++s.row_start[static_cast<std::size_t>(p.y) + 1];
    s.gt_x.push_back(p.x);
    s.gt_y.push_back(p.y);
  }
  for (int y = 0; y < s.height; ++y) s.row_start[static_cast<std::size_t>(y) + 1] += s.row_start[static_cast<std::size_t>(y)];
  for (const auto& o : gt.offsets_) {  // the gate: every offset within the radius, with its cost
    const auto ady = static_cast<std::size_t>(std::abs(o.dy)), adx = static_cast<std::size_t>(std::abs(o.dx));
    if (s.half_width.size() <= ady) {
      s.half_width.resize(ady + 1, 0);
      s.gate_cost.resize(ady + 1);
    }
    s.half_width[ady] = std::max(s.half_width[ady], static_cast<int>(adx));
    if (s.gate_cost[ady].size() <= adx) s.gate_cost[ady].resize(adx + 1, 0);
    s.gate_cost[ady][adx] = o.cost;
  }
  {
    cv::Mat background = cv::Mat::ones(gt.size_, CV_8U), distance;
    for (const auto& p : gt.points_) background.at<std::uint8_t>(p) = 0;
    if (gt.points_.empty()) distance = cv::Mat(gt.size_, CV_32F, cv::Scalar(1e9));
    else cv::distanceTransform(background, distance, cv::DIST_L2, cv::DIST_MASK_PRECISE);
    s.gt_distance.assign(distance.begin<float>(), distance.end<float>());
  }
  s.two_c = 2 * gt.outlier_;
  s.scale = static_cast<std::int64_t>(s.nr) + 1;
  s.node_of.assign(gt.grid_.size(), -1);
  s.current = BitImage(gt.size_.height, gt.size_.width);
  const auto nr = static_cast<std::size_t>(s.nr);
  s.in_set.assign(nr, 1);
  s.mate.assign(nr, -1);
  s.prev.assign(nr, -1);
  s.dual.assign(nr, 0);
  s.dist.assign(nr, kInf);
}

IncrementalMatcher::~IncrementalMatcher() = default;

std::int64_t IncrementalMatcher::update(const BitImage& prediction) { return s_->update(prediction); }

std::int64_t IncrementalMatcher::update(const cv::Mat& prediction) {
  CV_Assert(prediction.type() == CV_8U);
  return s_->update(BitImage(prediction));
}

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
    if (L.size() == 1 && R.size() == 1) {  // one gated pair: matched when that costs less than two outliers
      const std::int64_t c = cost[static_cast<std::size_t>(start[static_cast<std::size_t>(L[0])])];
      if (c < 2 * outlier) {
        ++m.matches;
        matched_cost += c;
      }
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

namespace {

// E = p / 255 >= t, with t at 1/100 steps, as integer levels: p >= level_at(t).
int level_at(double t) { return static_cast<int>(std::ceil(t * 255.0 - 1e-9)); }

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<Counts> image_counts_reference(const cv::Mat& prediction, const cv::Mat& ground_truth, const std::vector<double>& ts,
                                           double max_dist) {
  CV_Assert(prediction.type() == CV_8U && prediction.size() == ground_truth.size());
  cv::Mat thinned = vision::thin(ground_truth != 0);
  const GroundTruth gt(thinned, max_dist);
  const std::int64_t sum_r = cv::countNonZero(thinned);
  std::vector<Counts> out(ts.size());
  for (std::size_t k = 0; k < ts.size(); ++k) {
    BitImage e(prediction.rows, prediction.cols);
    e.assign_at_least(prediction, level_at(ts[k]));
    vision::thin(e);
    Counts& c = out[k];
    c.sum_r = sum_r;
    c.sum_p = e.count();
    if (c.sum_p > 0 && sum_r > 0) c.cnt_r = c.cnt_p = correspond(e.to_mat(), gt).matches;
  }
  return out;
}

std::vector<Counts> image_counts(const cv::Mat& prediction, const cv::Mat& ground_truth, const std::vector<double>& ts,
                                 double max_dist, int threads, Profile* profile) {
  CV_Assert(prediction.type() == CV_8U && prediction.size() == ground_truth.size());
  cv::Mat thinned = vision::thin(ground_truth != 0);
  const GroundTruth gt(thinned, max_dist);
  const std::int64_t sum_r = cv::countNonZero(thinned);
  const std::size_t n = ts.size();
  std::vector<Counts> out(n);
  if (profile) {
    profile->binarised.assign(n, 0);
    profile->thin_seconds.assign(n, 0.0);
    profile->match_seconds.assign(n, 0.0);
  }
  // Thresholds from the highest down, so that the prediction set mostly grows from one to the
  // next and the matching carries over. With several threads the thinned maps are made first,
  // in parallel; with one, each is matched as soon as it is thinned.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ts[a] > ts[b]; });
  // One thread: the binarised map of each threshold grows from the last one's by the pixels of the
  // levels in between (pixels bucketed by level once). Several: each map is made on its own.
  std::vector<int> by_level;  // pixel indices, highest level first
  std::vector<std::size_t> level_end(257, 0);  // by_level[.. level_end[l]) have level >= l
  if (threads <= 1) {
    std::vector<std::size_t> histogram(256, 0);
    for (int y = 0; y < prediction.rows; ++y) {
      const auto* p = prediction.ptr<std::uint8_t>(y);
      for (int x = 0; x < prediction.cols; ++x) ++histogram[p[x]];
    }
    std::vector<std::size_t> fill(256, 0);
    std::size_t total = 0;
    for (int l = 255; l >= 0; --l) {
      fill[static_cast<std::size_t>(l)] = total;
      total += histogram[static_cast<std::size_t>(l)];
      level_end[static_cast<std::size_t>(l)] = total;
    }
    by_level.resize(total);
    for (int y = 0; y < prediction.rows; ++y) {
      const auto* p = prediction.ptr<std::uint8_t>(y);
      for (int x = 0; x < prediction.cols; ++x) by_level[fill[p[x]]++] = y * prediction.cols + x;
    }
  }
  BitImage raw(prediction.rows, prediction.cols);
  std::size_t added = 0;
  auto make = [&](std::size_t k) {
    auto t0 = std::chrono::steady_clock::now();
    const int level = level_at(ts[k]);
    BitImage e;
    if (threads <= 1) {  // thresholds come in decreasing order here
      const std::size_t end = level_end[static_cast<std::size_t>(std::clamp(level, 0, 256))];
      for (; added < end; ++added) raw.set(by_level[added] / prediction.cols, by_level[added] % prediction.cols);
      e = raw;
    } else {
      e = BitImage(prediction.rows, prediction.cols);
      e.assign_at_least(prediction, level);
    }
    if (profile) profile->binarised[k] = e.count();
    vision::thin(e);
    if (profile) profile->thin_seconds[k] = since(t0);
    return e;
  };
  std::vector<BitImage> maps;
  if (threads > 1) {
    maps.resize(n);
    parallel_for(n, threads, [&](std::size_t k) { maps[k] = make(k); });
  }
  IncrementalMatcher matcher(gt);
  for (std::size_t k : order) {
    BitImage e = threads > 1 ? std::move(maps[k]) : make(k);
    auto t0 = std::chrono::steady_clock::now();
    Counts& c = out[k];
    c.sum_r = sum_r;
    c.sum_p = e.count();
    if (sum_r > 0) c.cnt_r = c.cnt_p = matcher.update(e);  // 0 for an empty set
    if (profile) profile->match_seconds[k] = since(t0);
  }
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
  s.recall = R;
  s.precision = P;
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
  // AP: unique recalls (of thresholds with equal recall, the first - the lowest threshold - as
  // SEISM keeps it), sorted by recall; precision interpolated linearly at recall 0:0.01:1; the
  // values inside the recall range summed and divided by 100.
  std::vector<std::pair<double, double>> rp;  // recall, precision
  for (std::size_t t = 0; t < nt; ++t) {
    bool earlier_same = false;
    for (std::size_t u = 0; u < t; ++u) earlier_same |= R[u] == R[t];
    if (!earlier_same) rp.emplace_back(R[t], P[t]);
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

#include "densemtl/eval/boundary.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>

#include "densemtl/core/parallel.h"
#include "densemtl/vision/thinning.h"

namespace densemtl::eval::boundary {

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
// cost. Successive shortest paths with potentials keep reduced costs non-negative; each phase
// runs Dijkstra from all free left nodes and then augments a maximal set of vertex-disjoint
// paths of zero reduced cost (all of them shortest, hence all optimal).
class ComponentSolver {
 public:
  ComponentSolver(int n_left, int n_right, const std::vector<int>& start, const std::vector<int>& right,
                  const std::vector<std::int64_t>& cost, std::int64_t two_c)
      : nl_(n_left), nr_(n_right), start_(start), right_(right), cost_(cost), k_(two_c),
        alive_l_(static_cast<std::size_t>(n_left), 1), alive_r_(static_cast<std::size_t>(n_right), 1),
        match_l_(static_cast<std::size_t>(n_left), -1), match_r_(static_cast<std::size_t>(n_right), -1),
        match_cost_r_(static_cast<std::size_t>(n_right), 0), pl_(static_cast<std::size_t>(n_left), 0),
        pr_(static_cast<std::size_t>(n_right), -two_c), pt_(-two_c), dl_(static_cast<std::size_t>(n_left)),
        dr_(static_cast<std::size_t>(n_right)) {}

  std::int64_t solve() {
    build_reverse();
    std::int64_t matches = 0;
    while (true) {
      if (!mark_alive()) break;
      std::int64_t d = dijkstra();
      if (d >= kInf || d + pt_ >= 0) break;  // no augmenting path, or none that lowers the cost
      // Potentials: pi += min(dist, D).
      for (int i = 0; i < nl_; ++i) pl_[static_cast<std::size_t>(i)] += std::min(dl_[static_cast<std::size_t>(i)], d);
      for (int j = 0; j < nr_; ++j) pr_[static_cast<std::size_t>(j)] += std::min(dr_[static_cast<std::size_t>(j)], d);
      pt_ += d;
      std::int64_t found = augment_blocking();
      if (found == 0) break;  // cannot happen with consistent potentials; guards against loops
      matches += found;
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
  std::int64_t reduced_forward(int i, int e) const {
    int j = right_[static_cast<std::size_t>(e)];
    return cost_[static_cast<std::size_t>(e)] - k_ + pl_[static_cast<std::size_t>(i)] - pr_[static_cast<std::size_t>(j)];
  }
  std::int64_t reduced_backward(int j) const {
    int i = match_r_[static_cast<std::size_t>(j)];
    return -(match_cost_r_[static_cast<std::size_t>(j)] - k_) + pr_[static_cast<std::size_t>(j)] - pl_[static_cast<std::size_t>(i)];
  }
  std::int64_t reduced_to_sink(int j) const { return pr_[static_cast<std::size_t>(j)] - pt_; }

  // Right-to-left adjacency, for the backward search.
  void build_reverse() {
    rstart_.assign(static_cast<std::size_t>(nr_) + 1, 0);
    for (int e = 0; e < start_[static_cast<std::size_t>(nl_)]; ++e) ++rstart_[static_cast<std::size_t>(right_[static_cast<std::size_t>(e)]) + 1];
    for (int j = 0; j < nr_; ++j) rstart_[static_cast<std::size_t>(j) + 1] += rstart_[static_cast<std::size_t>(j)];
    rleft_.assign(static_cast<std::size_t>(start_[static_cast<std::size_t>(nl_)]), 0);
    std::vector<int> fill(rstart_.begin(), rstart_.end() - 1);
    for (int i = 0; i < nl_; ++i)
      for (int e = start_[static_cast<std::size_t>(i)]; e < start_[static_cast<std::size_t>(i) + 1]; ++e)
        rleft_[static_cast<std::size_t>(fill[static_cast<std::size_t>(right_[static_cast<std::size_t>(e)])]++)] = i;
  }

  // Marks the nodes that can still reach a free right node in the residual graph (a backward
  // search from the free right nodes, recomputed every phase). Only those can lie on an
  // augmenting path, so the phase's Dijkstra and path search skip the rest: once most of a
  // component is matched at short distances, the search shrinks to the part that can still
  // change. Returns whether any free left node has an augmenting path.
  bool mark_alive() {
    std::vector<char> seen_l(static_cast<std::size_t>(nl_), 0), seen_r(static_cast<std::size_t>(nr_), 0);
    std::vector<int> queue;  // right nodes
    for (int j = 0; j < nr_; ++j)
      if (match_r_[static_cast<std::size_t>(j)] < 0) {
        seen_r[static_cast<std::size_t>(j)] = 1;
        queue.push_back(j);
      }
    for (std::size_t q = 0; q < queue.size(); ++q) {
      int j = queue[q];
      for (int e = rstart_[static_cast<std::size_t>(j)]; e < rstart_[static_cast<std::size_t>(j) + 1]; ++e) {
        int i = rleft_[static_cast<std::size_t>(e)];
        if (seen_l[static_cast<std::size_t>(i)] || match_l_[static_cast<std::size_t>(i)] == j) continue;
        seen_l[static_cast<std::size_t>(i)] = 1;
        int m = match_l_[static_cast<std::size_t>(i)];  // reached through i's matched edge backwards
        if (m >= 0 && !seen_r[static_cast<std::size_t>(m)]) {
          seen_r[static_cast<std::size_t>(m)] = 1;
          queue.push_back(m);
        }
      }
    }
    bool any = false;
    for (int i = 0; i < nl_; ++i) {
      alive_l_[static_cast<std::size_t>(i)] = seen_l[static_cast<std::size_t>(i)];
      any |= seen_l[static_cast<std::size_t>(i)] && match_l_[static_cast<std::size_t>(i)] < 0;
    }
    for (int j = 0; j < nr_; ++j) alive_r_[static_cast<std::size_t>(j)] = seen_r[static_cast<std::size_t>(j)];
    return any;
  }

  // Shortest reduced distance from the free left nodes to the sink; fills dl_, dr_.
  std::int64_t dijkstra() {
    std::fill(dl_.begin(), dl_.end(), kInf);
    std::fill(dr_.begin(), dr_.end(), kInf);
    using Item = std::pair<std::int64_t, int>;  // distance, node (left: i, right: nl_ + j)
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
    for (int i = 0; i < nl_; ++i)
      if (match_l_[static_cast<std::size_t>(i)] < 0 && alive_l_[static_cast<std::size_t>(i)]) {
        dl_[static_cast<std::size_t>(i)] = 0;
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
          if (match_l_[static_cast<std::size_t>(i)] == j || !alive_r_[static_cast<std::size_t>(j)]) continue;
          std::int64_t nd = d + reduced_forward(i, e);
          if (nd < dr_[static_cast<std::size_t>(j)]) {
            dr_[static_cast<std::size_t>(j)] = nd;
            heap.push({nd, nl_ + j});
          }
        }
      } else {
        int j = node - nl_;
        if (d != dr_[static_cast<std::size_t>(j)]) continue;
        int i = match_r_[static_cast<std::size_t>(j)];
        if (i < 0) {
          best = std::min(best, d + reduced_to_sink(j));
          continue;
        }
        std::int64_t nd = d + reduced_backward(j);
        if (nd < dl_[static_cast<std::size_t>(i)]) {
          dl_[static_cast<std::size_t>(i)] = nd;
          heap.push({nd, i});
        }
      }
    }
    return best;
  }

  // Vertex-disjoint augmenting paths over zero reduced-cost edges (iterative DFS with current
  // arcs: a right node visited in this phase is not visited again).
  std::int64_t augment_blocking() {
    std::vector<char> seen_r(static_cast<std::size_t>(nr_), 0);
    std::vector<int> next_edge(start_.begin(), start_.end() - 1);
    std::vector<int> nodes, edges;  // edges[s] leads from nodes[s] to nodes[s + 1]
    std::int64_t found = 0;
    for (int root = 0; root < nl_; ++root) {
      if (match_l_[static_cast<std::size_t>(root)] >= 0 || !alive_l_[static_cast<std::size_t>(root)]) continue;
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
        if (seen_r[static_cast<std::size_t>(j)] || !alive_r_[static_cast<std::size_t>(j)] || match_l_[static_cast<std::size_t>(i)] == j ||
            reduced_forward(i, edge) != 0)
          continue;
        int k = match_r_[static_cast<std::size_t>(j)];
        if (k < 0) {
          if (reduced_to_sink(j) != 0) continue;
          seen_r[static_cast<std::size_t>(j)] = 1;
          edges.push_back(edge);
          for (std::size_t s = 0; s < nodes.size(); ++s) {
            int li = nodes[s], rj = right_[static_cast<std::size_t>(edges[s])];
            match_l_[static_cast<std::size_t>(li)] = rj;
            match_r_[static_cast<std::size_t>(rj)] = li;
            match_cost_r_[static_cast<std::size_t>(rj)] = cost_[static_cast<std::size_t>(edges[s])];
          }
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
  std::vector<char> alive_l_, alive_r_;
  std::vector<int> rstart_, rleft_;
  std::vector<int> match_l_, match_r_;
  std::vector<std::int64_t> match_cost_r_;
  std::vector<std::int64_t> pl_, pr_;
  std::int64_t pt_;
  std::vector<std::int64_t> dl_, dr_;
};

int find(std::vector<int>& parent, int x) {
  while (parent[static_cast<std::size_t>(x)] != x) {
    parent[static_cast<std::size_t>(x)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
    x = parent[static_cast<std::size_t>(x)];
  }
  return x;
}

}  // namespace

Match correspond(const cv::Mat& prediction, const cv::Mat& ground_truth, double max_dist, double outlier_cost) {
  CV_Assert(prediction.size() == ground_truth.size() && prediction.type() == CV_8U && ground_truth.type() == CV_8U);
  const int h = prediction.rows, w = prediction.cols;
  const double radius = max_dist * std::sqrt(static_cast<double>(h) * h + static_cast<double>(w) * w);
  const std::int64_t outlier = std::llround(100.0 * outlier_cost * radius);
  // Ground-truth pixels and a lookup grid.
  std::vector<int> grid(static_cast<std::size_t>(h) * static_cast<std::size_t>(w), -1);
  std::vector<cv::Point> gt_px, pr_px;
  for (int y = 0; y < h; ++y) {
    const auto* g = ground_truth.ptr<std::uint8_t>(y);
    const auto* p = prediction.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      if (g[x]) {
        grid[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)] = static_cast<int>(gt_px.size());
        gt_px.emplace_back(x, y);
      }
      if (p[x]) pr_px.emplace_back(x, y);
    }
  }
  const int nl = static_cast<int>(pr_px.size()), nr = static_cast<int>(gt_px.size());
  // Gated edges (CSR), nearest first; union-find over left (0..nl-1) and right (nl..) nodes.
  static thread_local std::vector<Offset> cached;
  static thread_local double cached_radius = -1;
  if (cached_radius != radius) {
    cached = offsets_within(radius);
    cached_radius = radius;
  }
  std::vector<int> start(static_cast<std::size_t>(nl) + 1, 0), right;
  std::vector<std::int64_t> cost;
  std::vector<int> parent(static_cast<std::size_t>(nl + nr));
  std::iota(parent.begin(), parent.end(), 0);
  for (int i = 0; i < nl; ++i) {
    const cv::Point& p = pr_px[static_cast<std::size_t>(i)];
    for (const Offset& o : cached) {
      int y = p.y + o.dy, x = p.x + o.dx;
      if (y < 0 || x < 0 || y >= h || x >= w) continue;
      int j = grid[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)];
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
    ComponentSolver solver(static_cast<int>(L.size()), static_cast<int>(R.size()), s, rr, cc, 2 * outlier);
    m.matches += solver.solve();
    matched_cost += solver.matched_cost();
  }
  m.cost = matched_cost + outlier * (static_cast<std::int64_t>(nl) + nr - 2 * m.matches);
  return m;
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
  cv::Mat gt = ground_truth != 0;
  gt = vision::thin(gt);
  std::int64_t sum_r = cv::countNonZero(gt);
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
      Match m = correspond(e, gt, max_dist);
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

}  // namespace densemtl::eval::boundary

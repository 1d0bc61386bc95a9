#include "densemtl/data/synthetic/scene.h"

#include <cmath>

namespace densemtl::synthetic {

const std::vector<std::string>& class_names() {
  static const std::vector<std::string> n = {"wall", "floor", "ceiling", "cabinet", "table",
                                             "ball", "pillar", "person", "picture"};
  return n;
}

const std::vector<std::string>& part_names() {
  static const std::vector<std::string> n = {"background", "head", "torso", "upper arm",
                                             "lower arm", "upper leg", "lower leg"};
  return n;
}

bool is_foreground(int cls) {
  return cls == kCabinet || cls == kTable || cls == kBall || cls == kPillar || cls == kPerson;
}

namespace {

constexpr double kPi = 3.14159265358979323846;

double srgb_to_linear(double c) { return std::pow(std::clamp(c, 0.0, 1.0), 2.2); }

V3 hsv(double h, double s, double v) {
  h = std::fmod(h, 1.0);
  if (h < 0) h += 1;
  double i = std::floor(h * 6), f = h * 6 - i;
  double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  V3 c;
  switch (static_cast<int>(i) % 6) {
    case 0: c = {v, t, p}; break;
    case 1: c = {q, v, p}; break;
    case 2: c = {p, v, t}; break;
    case 3: c = {p, q, v}; break;
    case 4: c = {t, p, v}; break;
    default: c = {v, p, q}; break;
  }
  return {srgb_to_linear(c.x), srgb_to_linear(c.y), srgb_to_linear(c.z)};
}

V3 random_direction(Rng& rng) {
  double z = rng.uniform(-1, 1), a = rng.uniform(0, 2 * kPi), r = std::sqrt(1 - z * z);
  return {r * std::cos(a), r * std::sin(a), z};
}

// Colour families. Classes draw from overlapping families so that colour alone does not give
// the class.
V3 wood(Rng& rng) { return hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.7)); }
V3 pastel(Rng& rng) { return hsv(rng.uniform(), rng.uniform(0.03, 0.3), rng.uniform(0.55, 0.92)); }
V3 greyish(Rng& rng) { return hsv(rng.uniform(), rng.uniform(0.0, 0.12), rng.uniform(0.25, 0.9)); }
V3 vivid(Rng& rng) { return hsv(rng.uniform(), rng.uniform(0.45, 0.95), rng.uniform(0.4, 0.95)); }
V3 any_colour(Rng& rng) { return hsv(rng.uniform(), rng.uniform(0.05, 0.8), rng.uniform(0.2, 0.9)); }
V3 skin(Rng& rng) { return hsv(rng.uniform(0.03, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.95)); }

V3 shade(const V3& c, Rng& rng, double lo, double hi) {
  double k = rng.uniform(lo, hi);
  return {std::min(1.0, c.x * k), std::min(1.0, c.y * k), std::min(1.0, c.z * k)};
}

Material material(V3 base, Rng& rng, const double (&texture_weights)[4], double contrast_lo,
                  double contrast_hi, double scale_lo, double scale_hi) {
  Material m;
  m.base = base;
  std::vector<double> w(std::begin(texture_weights), std::end(texture_weights));
  m.texture = static_cast<Texture>(rng.weighted(w));
  // The second colour: the same hue darker or lighter, or sometimes a contrasting colour.
  m.alt = rng.bernoulli(0.25) ? any_colour(rng) : shade(base, rng, contrast_lo, contrast_hi);
  m.scale = rng.uniform(scale_lo, scale_hi);
  m.direction = random_direction(rng);
  m.noise_seed = static_cast<std::uint32_t>(rng.next());
  return m;
}

Material class_material(int cls, Rng& rng) {
  switch (cls) {
    case kWall: {
      const double t[4] = {0.5, 0.05, 0.2, 0.25};
      return material(pastel(rng), rng, t, 0.8, 0.95, 0.1, 0.5);
    }
    case kFloor: {
      const double t[4] = {0.15, 0.35, 0.25, 0.25};
      V3 c = rng.bernoulli(0.5) ? wood(rng) : rng.bernoulli(0.5) ? greyish(rng) : any_colour(rng);
      return material(c, rng, t, 0.5, 0.85, 0.15, 0.6);
    }
    case kCeiling: {
      const double t[4] = {0.7, 0.05, 0.05, 0.2};
      return material(hsv(rng.uniform(), rng.uniform(0, 0.08), rng.uniform(0.7, 0.95)), rng, t, 0.85, 0.97, 0.2, 0.6);
    }
    case kCabinet: {
      const double t[4] = {0.35, 0.1, 0.3, 0.25};
      return material(rng.bernoulli(0.4) ? wood(rng) : any_colour(rng), rng, t, 0.6, 0.9, 0.03, 0.2);
    }
    case kTable: {
      const double t[4] = {0.4, 0.1, 0.35, 0.15};
      return material(rng.bernoulli(0.6) ? wood(rng) : greyish(rng), rng, t, 0.6, 0.9, 0.02, 0.12);
    }
    case kBall: {
      const double t[4] = {0.45, 0.25, 0.2, 0.1};
      return material(vivid(rng), rng, t, 0.2, 0.6, 0.05, 0.15);
    }
    case kPillar: {
      const double t[4] = {0.35, 0.05, 0.2, 0.4};
      return material(rng.bernoulli(0.7) ? greyish(rng) : pastel(rng), rng, t, 0.7, 0.95, 0.05, 0.3);
    }
    case kPicture: {
      const double t[4] = {0.05, 0.3, 0.3, 0.35};
      return material(vivid(rng), rng, t, 0.1, 0.5, 0.02, 0.12);
    }
    default: {
      const double t[4] = {0.5, 0.15, 0.25, 0.1};
      return material(any_colour(rng), rng, t, 0.5, 0.85, 0.03, 0.1);
    }
  }
}

// Value noise on a 3-D lattice.
double lattice(int x, int y, int z, std::uint32_t seed) {
  std::uint64_t h = static_cast<std::uint64_t>(x) * 0x8da6b343ull ^ static_cast<std::uint64_t>(y) * 0xd8163841ull ^
                    static_cast<std::uint64_t>(z) * 0xcb1ab31full ^ seed;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return static_cast<double>(h & 0xffffff) / static_cast<double>(0xffffff);
}

double value_noise(const V3& p, std::uint32_t seed) {
  double fx = std::floor(p.x), fy = std::floor(p.y), fz = std::floor(p.z);
  int ix = static_cast<int>(fx), iy = static_cast<int>(fy), iz = static_cast<int>(fz);
  auto s = [](double t) { return t * t * (3 - 2 * t); };
  double tx = s(p.x - fx), ty = s(p.y - fy), tz = s(p.z - fz);
  double v = 0;
  for (int c = 0; c < 8; ++c) {
    int dx = c & 1, dy = (c >> 1) & 1, dz = (c >> 2) & 1;
    double w = (dx ? tx : 1 - tx) * (dy ? ty : 1 - ty) * (dz ? tz : 1 - tz);
    v += w * lattice(ix + dx, iy + dy, iz + dz, seed);
  }
  return v;
}

struct Builder {
  Scene& scene;
  int begin_object() { return static_cast<int>(scene.primitives.size()); }
  void end_object(int first) {
    Object o;
    o.first = first;
    o.count = static_cast<int>(scene.primitives.size()) - first;
    // Bounding sphere: centre of the primitives' extents, radius covering all of them.
    V3 lo{1e9, 1e9, 1e9}, hi{-1e9, -1e9, -1e9};
    auto grow = [&](const V3& p, double r) {
      lo = {std::min(lo.x, p.x - r), std::min(lo.y, p.y - r), std::min(lo.z, p.z - r)};
      hi = {std::max(hi.x, p.x + r), std::max(hi.y, p.y + r), std::max(hi.z, p.z + r)};
    };
    for (int i = first; i < first + o.count; ++i) {
      const Primitive& p = scene.primitives[static_cast<std::size_t>(i)];
      if (p.shape == Shape::Box) grow(p.a, length(p.half));
      else if (p.shape == Shape::Sphere) grow(p.a, p.r);
      else {
        grow(p.a, p.r);
        grow(p.b, p.r);
      }
    }
    o.centre = (lo + hi) * 0.5;
    o.radius = length(hi - lo) * 0.5 + 1e-6;
    scene.objects.push_back(o);
  }
  Primitive& add(Shape shape, int cls, int instance, int part, const Material& m) {
    Primitive p;
    p.shape = shape;
    p.cls = cls;
    p.instance = instance;
    p.part = part;
    p.material = m;
    scene.primitives.push_back(p);
    return scene.primitives.back();
  }
  void box(const V3& c, double yaw, const V3& half, int cls, int instance, const Material& m) {
    Primitive& p = add(Shape::Box, cls, instance, kNoPart, m);
    p.a = c;
    p.u = {std::cos(yaw), std::sin(yaw), 0};
    p.v = {-std::sin(yaw), std::cos(yaw), 0};
    p.w = {0, 0, 1};
    p.half = half;
  }
};

// A posed person standing at (x, y) facing `yaw`. Returns the horizontal footprint radius.
// Body parts are separate instances (head, torso, two of each limb segment).
struct PersonPose {
  double height;
  double shoulder_flex[2], shoulder_abduct[2], elbow[2];
  double hip_flex[2], hip_abduct[2], knee[2];
  double lean;
};

PersonPose sample_pose(Rng& rng) {
  PersonPose p;
  p.height = rng.uniform(1.5, 1.9);
  for (int s = 0; s < 2; ++s) {
    p.shoulder_flex[s] = rng.uniform(-0.6, 2.0);
    p.shoulder_abduct[s] = rng.uniform(0.05, 1.3);
    p.elbow[s] = rng.uniform(0.0, 2.0);
    p.hip_flex[s] = rng.uniform(-0.35, 0.7);
    p.hip_abduct[s] = rng.uniform(0.0, 0.25);
    p.knee[s] = rng.uniform(0.0, 1.0);
  }
  p.lean = rng.uniform(-0.12, 0.12);
  return p;
}

V3 bend(const V3& dir, const V3& towards, double angle) {
  V3 w = towards - dir * dot(towards, dir);
  if (length(w) < 1e-9) return dir;
  w = normalize(w);
  return normalize(dir * std::cos(angle) + w * std::sin(angle));
}

struct Segment {
  V3 a, b;
  double r;
  int part;
};

std::vector<Segment> pose_person(const PersonPose& p, const V3& base, double yaw, V3& head_centre, double& head_r) {
  const double h = p.height;
  V3 fwd{std::cos(yaw), std::sin(yaw), 0}, side{-std::sin(yaw), std::cos(yaw), 0}, up{0, 0, 1};
  std::vector<Segment> segs;
  // Legs first, in a body frame with the pelvis at the origin.
  double upper_leg = 0.245 * h, lower_leg = 0.25 * h;
  V3 pelvis{0, 0, 0};
  std::vector<Segment> legs;
  for (int s = 0; s < 2; ++s) {
    double sign = s == 0 ? 1 : -1;
    V3 out = side * sign;
    V3 hip = pelvis + out * (0.085 * h);
    V3 d = up * (-std::cos(p.hip_flex[s]) * std::cos(p.hip_abduct[s])) + fwd * (std::sin(p.hip_flex[s]) * std::cos(p.hip_abduct[s])) +
           out * std::sin(p.hip_abduct[s]);
    V3 knee = hip + d * upper_leg;
    V3 d2 = bend(d, -fwd, p.knee[s]);
    V3 ankle = knee + d2 * lower_leg;
    legs.push_back({hip, knee, 0.055 * h, kUpperLeg});
    legs.push_back({knee, ankle, 0.045 * h, kLowerLeg});
  }
  // Stand on the floor: the lowest leg point touches z = 0.
  double lowest = 1e9;
  for (const auto& s : legs) lowest = std::min({lowest, s.a.z - s.r, s.b.z - s.r});
  V3 lift = base + V3{0, 0, -lowest};
  for (auto s : legs) {
    s.a += lift;
    s.b += lift;
    segs.push_back(s);
  }
  V3 hip_c = pelvis + lift;
  V3 spine = normalize(up + fwd * p.lean);
  V3 neck = hip_c + spine * (0.3 * h);
  segs.push_back({hip_c + spine * (0.04 * h), neck - spine * (0.02 * h), 0.095 * h, kTorso});
  head_r = 0.062 * h;
  head_centre = neck + spine * (0.085 * h);
  double upper_arm = 0.17 * h, lower_arm = 0.17 * h;
  for (int s = 0; s < 2; ++s) {
    double sign = s == 0 ? 1 : -1;
    V3 out = side * sign;
    V3 shoulder = neck - spine * (0.03 * h) + out * (0.135 * h);
    V3 d = up * (-std::cos(p.shoulder_flex[s]) * std::cos(p.shoulder_abduct[s])) +
           fwd * (std::sin(p.shoulder_flex[s]) * std::cos(p.shoulder_abduct[s])) + out * std::sin(p.shoulder_abduct[s]);
    V3 elbow = shoulder + d * upper_arm;
    V3 d2 = bend(d, fwd + up * 0.3, p.elbow[s]);
    V3 wrist = elbow + d2 * lower_arm;
    segs.push_back({shoulder, elbow, 0.035 * h, kUpperArm});
    segs.push_back({elbow, wrist, 0.03 * h, kLowerArm});
  }
  return segs;
}

double footprint(const std::vector<Segment>& segs, const V3& head, double head_r, const V3& base) {
  double r = 0;
  auto reach = [&](const V3& p, double rad) {
    double dx = p.x - base.x, dy = p.y - base.y;
    r = std::max(r, std::sqrt(dx * dx + dy * dy) + rad);
  };
  for (const auto& s : segs) {
    reach(s.a, s.r);
    reach(s.b, s.r);
  }
  reach(head, head_r);
  return r;
}

}  // namespace

V3 albedo(const Material& m, const V3& p) {
  switch (m.texture) {
    case Texture::Plain:
      return m.base;
    case Texture::Checker: {
      long k = static_cast<long>(std::floor(p.x / m.scale) + std::floor(p.y / m.scale) + std::floor(p.z / m.scale));
      return (k & 1) ? m.alt : m.base;
    }
    case Texture::Stripes: {
      double s = 0.5 + 0.5 * std::sin(dot(p, m.direction) * 2 * kPi / m.scale);
      return m.base * (1 - s) + m.alt * s;
    }
    case Texture::Noise: {
      V3 q = p / m.scale;
      double n = 0.65 * value_noise(q, m.noise_seed) + 0.35 * value_noise(q * 2.7, m.noise_seed + 17);
      return m.base * (1 - n) + m.alt * n;
    }
  }
  return m.base;
}

Camera make_intrinsics(const SceneSettings& s) {
  Camera c;
  c.width = s.width;
  c.height = s.height;
  c.fx = c.fy = (s.width / 2.0) / std::tan(s.hfov_degrees * kPi / 360.0);
  c.cx = s.width / 2.0 - 0.5;
  c.cy = s.height / 2.0 - 0.5;
  return c;
}

namespace {

// Samples one scene step by step. The order of the random draws is part of the dataset: a seed
// must keep giving the same scenes, so steps draw exactly in the order they run.
class SceneSampler {
 public:
  SceneSampler(const SceneSettings& settings, Rng& rng) : settings_(settings), rng_(rng), build_{scene_} {}

  Scene sample() {
    sample_room();
    place_camera();
    // Light near the ceiling.
    scene_.light = {rng_.uniform(0.25, 0.75) * scene_.room_w, rng_.uniform(0.25, 0.75) * scene_.room_d, scene_.room_h - 0.15};
    scene_.ambient = rng_.uniform(0.22, 0.4);
    scene_.exposure = rng_.uniform(0.85, 1.2);
    taken_ = {{scene_.camera.position.x, scene_.camera.position.y, 0.45}};
    add_objects();
    add_pictures();
    scene_.instances = next_instance_;
    return scene_;
  }

 private:
  struct Footprint {
    double x, y, r;
  };

  void sample_room() {
    scene_.room_w = rng_.uniform(4, 8);
    scene_.room_d = rng_.uniform(4, 8);
    scene_.room_h = rng_.uniform(2.5, 3.2);
    Material floor = class_material(kFloor, rng_), ceiling = class_material(kCeiling, rng_);
    Material wall = class_material(kWall, rng_);
    scene_.room[0] = floor;
    scene_.room[1] = ceiling;
    for (int i = 2; i < 6; ++i) {
      // Walls of a room usually share a paint; sometimes one wall differs.
      scene_.room[i] = rng_.bernoulli(0.2) ? class_material(kWall, rng_) : wall;
    }
    // Instances: 1 floor, 2 ceiling, 3..6 walls.
    next_instance_ = 7;
  }

  // The distance from the camera to a wall along heading `yaw`.
  double free_distance(double yaw) const {
    const V3& c = scene_.camera.position;
    double dx = std::cos(yaw), dy = std::sin(yaw), best = 1e9;
    if (dx > 1e-9) best = std::min(best, (scene_.room_w - c.x) / dx);
    if (dx < -1e-9) best = std::min(best, -c.x / dx);
    if (dy > 1e-9) best = std::min(best, (scene_.room_d - c.y) / dy);
    if (dy < -1e-9) best = std::min(best, -c.y / dy);
    return best;
  }

  // Camera: a position away from the walls, and a heading with room to look into.
  void place_camera() {
    Camera& cam = scene_.camera;
    cam = make_intrinsics(settings_);
    const double margin = 0.5;
    double cam_h = rng_.uniform(1.1, 1.7);
    cam.position = {rng_.uniform(margin, scene_.room_w - margin), rng_.uniform(margin, scene_.room_d - margin), cam_h};
    double yaw = rng_.uniform(0, 2 * kPi), best_yaw = yaw, best_free = free_distance(yaw);
    for (int tries = 0; tries < 24 && best_free < 3.0; ++tries) {
      double y = rng_.uniform(0, 2 * kPi), f = free_distance(y);
      if (f > best_free) {
        best_free = f;
        best_yaw = y;
      }
    }
    yaw_ = best_yaw;
    double pitch = rng_.uniform(0, 25) * kPi / 180.0;
    cam.forward = {std::cos(pitch) * std::cos(yaw_), std::cos(pitch) * std::sin(yaw_), -std::sin(pitch)};
    cam.right = normalize(cross(cam.forward, V3{0, 0, 1}));
    cam.up = cross(cam.right, cam.forward);
  }

  // A free spot for a footprint of `radius` on the floor, mostly in front of the camera.
  bool place(double radius, double& x, double& y) {
    const double hfov = settings_.hfov_degrees * kPi / 180.0;
    const V3& c = scene_.camera.position;
    for (int tries = 0; tries < 40; ++tries) {
      if (rng_.bernoulli(0.8)) {
        // In front of the camera, inside the horizontal field of view.
        double a = yaw_ + rng_.uniform(-0.45, 0.45) * hfov;
        double dist = rng_.uniform(1.0, std::max(1.2, free_distance(a) - radius));
        x = c.x + std::cos(a) * dist;
        y = c.y + std::sin(a) * dist;
      } else {
        x = rng_.uniform(0, scene_.room_w);
        y = rng_.uniform(0, scene_.room_d);
      }
      if (x < radius + 0.02 || y < radius + 0.02 || x > scene_.room_w - radius - 0.02 || y > scene_.room_d - radius - 0.02)
        continue;
      bool clear = true;
      for (const auto& f : taken_) {
        double dx = f.x - x, dy = f.y - y;
        if (dx * dx + dy * dy < (f.r + radius + 0.05) * (f.r + radius + 0.05)) clear = false;
      }
      if (clear) return true;
    }
    return false;
  }

  void add_objects() {
    // Class weights: people and pillars are common enough to be learned.
    const std::vector<double> weights = {0.22, 0.2, 0.16, 0.14, 0.28};
    const int kinds[5] = {kCabinet, kTable, kBall, kPillar, kPerson};
    int n_objects = rng_.randint(settings_.min_objects, settings_.max_objects);
    for (int i = 0; i < n_objects; ++i) {
      int cls = kinds[rng_.weighted(weights)];
      if (cls == kCabinet) add_cabinet();
      else if (cls == kTable) add_table();
      else if (cls == kBall || cls == kPillar) add_round(cls);
      else add_person();
    }
  }

  void add_cabinet() {
    double w = rng_.uniform(0.4, 1.2), d = rng_.uniform(0.35, 0.6), h = rng_.uniform(0.5, 2.0);
    double r = std::sqrt(w * w + d * d) / 2, x = 0, y = 0;
    if (!place(r, x, y)) return;
    double oy = rng_.bernoulli(0.5) ? rng_.randint(0, 3) * kPi / 2 + rng_.uniform(-0.05, 0.05) : rng_.uniform(0, 2 * kPi);
    int first = build_.begin_object();
    build_.box({x, y, h / 2}, oy, {w / 2, d / 2, h / 2}, kCabinet, next_instance_++, class_material(kCabinet, rng_));
    build_.end_object(first);
    taken_.push_back({x, y, r});
  }

  void add_table() {
    double w = rng_.uniform(0.8, 1.8), d = rng_.uniform(0.6, 1.0), h = rng_.uniform(0.68, 0.78), th = rng_.uniform(0.03, 0.06);
    double r = std::sqrt(w * w + d * d) / 2, x = 0, y = 0;
    if (!place(r, x, y)) return;
    double oy = rng_.uniform(0, 2 * kPi);
    int inst = next_instance_++;
    Material m = class_material(kTable, rng_);
    Material legs = rng_.bernoulli(0.5) ? m : class_material(kTable, rng_);
    int first = build_.begin_object();
    build_.box({x, y, h - th / 2}, oy, {w / 2, d / 2, th / 2}, kTable, inst, m);
    double lr = rng_.uniform(0.02, 0.04), inset = 0.06 + lr;
    V3 u{std::cos(oy), std::sin(oy), 0}, v{-std::sin(oy), std::cos(oy), 0};
    for (int c = 0; c < 4; ++c) {
      double sx = (c & 1) ? 1 : -1, sy = (c & 2) ? 1 : -1;
      V3 foot = V3{x, y, 0} + u * (sx * (w / 2 - inset)) + v * (sy * (d / 2 - inset));
      Primitive& p = build_.add(Shape::Cylinder, kTable, inst, kNoPart, legs);
      p.a = foot;
      p.b = foot + V3{0, 0, h - th};
      p.r = lr;
    }
    build_.end_object(first);
    taken_.push_back({x, y, r});
  }

  // A ball (a sphere on the floor) or a pillar (a cylinder from floor to ceiling).
  void add_round(int cls) {
    double r = cls == kBall ? rng_.uniform(0.1, 0.35) : rng_.uniform(0.15, 0.35), x = 0, y = 0;
    if (!place(r, x, y)) return;
    int first = build_.begin_object();
    Primitive& p = build_.add(cls == kBall ? Shape::Sphere : Shape::Cylinder, cls, next_instance_++, kNoPart, class_material(cls, rng_));
    if (cls == kBall) {
      p.a = {x, y, r};
    } else {
      p.a = {x, y, 0};
      p.b = {x, y, scene_.room_h};
    }
    p.r = r;
    build_.end_object(first);
    taken_.push_back({x, y, r});
  }

  void add_person() {
    PersonPose pose = sample_pose(rng_);
    double face = rng_.uniform(0, 2 * kPi);
    V3 head;
    double head_r;
    auto segs = pose_person(pose, {0, 0, 0}, face, head, head_r);
    double r = footprint(segs, head, head_r, {0, 0, 0}), x = 0, y = 0;
    if (!place(r, x, y)) return;
    segs = pose_person(pose, {x, y, 0}, face, head, head_r);
    Material shirt = class_material(kPerson, rng_), trousers = class_material(kPerson, rng_);
    Material skin_m;
    skin_m.base = skin(rng_);
    skin_m.alt = shade(skin_m.base, rng_, 0.8, 0.95);
    skin_m.texture = Texture::Plain;
    bool bare_arms = rng_.bernoulli(0.5);
    int first = build_.begin_object();
    for (const auto& s : segs) {
      const Material& m = s.part == kTorso || s.part == kUpperArm ? shirt
                          : s.part == kLowerArm                   ? (bare_arms ? skin_m : shirt)
                                                                  : trousers;
      Primitive& p = build_.add(Shape::Capsule, kPerson, next_instance_++, s.part, m);
      p.a = s.a;
      p.b = s.b;
      p.r = s.r;
    }
    Primitive& hp = build_.add(Shape::Sphere, kPerson, next_instance_++, kHead, skin_m);
    hp.a = head;
    hp.r = head_r;
    build_.end_object(first);
    taken_.push_back({x, y, r});
  }

  // Pictures: thin boxes on the walls, not overlapping each other.
  void add_pictures() {
    struct Span {
      int wall;
      double lo, hi;
    };
    std::vector<Span> used;
    int n_pictures = rng_.randint(0, settings_.max_pictures);
    for (int i = 0; i < n_pictures; ++i) {
      int wall_index = rng_.randint(0, 3);  // 0: x=0, 1: x=w, 2: y=0, 3: y=d
      double length_along = wall_index < 2 ? scene_.room_d : scene_.room_w;
      double pw = rng_.uniform(0.3, 1.2), ph = rng_.uniform(0.3, 0.9);
      double zc = std::min(rng_.uniform(1.2, 1.9), scene_.room_h - ph / 2 - 0.1);
      double c = rng_.uniform(pw / 2 + 0.1, length_along - pw / 2 - 0.1);
      bool clear = true;
      for (const auto& s : used)
        if (s.wall == wall_index && c + pw / 2 > s.lo && c - pw / 2 < s.hi) clear = false;
      if (!clear) continue;
      used.push_back({wall_index, c - pw / 2, c + pw / 2});
      const double thick = 0.02;
      V3 centre;
      double oy;
      switch (wall_index) {
        case 0: centre = {thick / 2 + 0.001, c, zc}; oy = 0; break;
        case 1: centre = {scene_.room_w - thick / 2 - 0.001, c, zc}; oy = 0; break;
        case 2: centre = {c, thick / 2 + 0.001, zc}; oy = kPi / 2; break;
        default: centre = {c, scene_.room_d - thick / 2 - 0.001, zc}; oy = kPi / 2; break;
      }
      int first = build_.begin_object();
      build_.box(centre, oy, {thick / 2, pw / 2, ph / 2}, kPicture, next_instance_++, class_material(kPicture, rng_));
      build_.end_object(first);
    }
  }

  const SceneSettings& settings_;
  Rng& rng_;
  Scene scene_;
  Builder build_;
  int next_instance_ = 7;
  double yaw_ = 0;
  std::vector<Footprint> taken_;
};

}  // namespace

Scene sample_scene(const SceneSettings& settings, Rng& rng) { return SceneSampler(settings, rng).sample(); }

}  // namespace densemtl::synthetic

#include "densemtl/data/synthetic/render.h"

#include <cmath>

namespace densemtl::synthetic {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Trace {
  double t = 1e30;
  V3 n;
  int primitive = -1;  // -1: a room surface
  int face = 0;        // room surface: 0 floor, 1 ceiling, 2 x=0, 3 x=w, 4 y=0, 5 y=d
};

bool hit_primitive(const Primitive& p, const Ray& ray, double t_min, double t_max, Hit& h) {
  switch (p.shape) {
    case Shape::Sphere: return hit_sphere(ray, p.a, p.r, t_min, t_max, h);
    case Shape::Capsule: return hit_capsule(ray, p.a, p.b, p.r, t_min, t_max, h);
    case Shape::Cylinder: return hit_cylinder(ray, p.a, p.b, p.r, t_min, t_max, h);
    case Shape::Box: return hit_box(ray, p.a, p.u, p.v, p.w, p.half, t_min, t_max, h);
  }
  return false;
}

bool sphere_overlaps(const Ray& ray, const V3& c, double r, double t_max) {
  V3 oc = c - ray.o;
  double tc = dot(oc, ray.d);
  double d2 = dot(oc, oc) - tc * tc;
  if (d2 > r * r) return false;
  double dt = std::sqrt(r * r - d2);
  return tc + dt > 0 && tc - dt < t_max;
}

// Nearest object hit closer than t_max.
bool trace_objects(const Scene& s, const Ray& ray, double t_min, double t_max, Trace& out, bool any) {
  bool found = false;
  for (const Object& o : s.objects) {
    if (!sphere_overlaps(ray, o.centre, o.radius, found ? out.t : t_max)) continue;
    for (int i = o.first; i < o.first + o.count; ++i) {
      Hit h;
      double limit = found ? out.t : t_max;
      if (hit_primitive(s.primitives[static_cast<std::size_t>(i)], ray, t_min, limit, h)) {
        out.t = h.t;
        out.n = h.n;
        out.primitive = i;
        found = true;
        if (any) return true;
      }
    }
  }
  return found;
}

// The ray leaves the (convex) room through one surface.
Trace trace_room(const Scene& s, const Ray& ray) {
  Trace tr;
  auto consider = [&](double t, int face, const V3& n) {
    if (t > 0 && t < tr.t) {
      tr.t = t;
      tr.face = face;
      tr.n = n;
    }
  };
  if (ray.d.z < 0) consider(-ray.o.z / ray.d.z, 0, {0, 0, 1});
  if (ray.d.z > 0) consider((s.room_h - ray.o.z) / ray.d.z, 1, {0, 0, -1});
  if (ray.d.x < 0) consider(-ray.o.x / ray.d.x, 2, {1, 0, 0});
  if (ray.d.x > 0) consider((s.room_w - ray.o.x) / ray.d.x, 3, {-1, 0, 0});
  if (ray.d.y < 0) consider(-ray.o.y / ray.d.y, 4, {0, 1, 0});
  if (ray.d.y > 0) consider((s.room_d - ray.o.y) / ray.d.y, 5, {0, -1, 0});
  return tr;
}

Trace trace(const Scene& s, const Ray& ray) {
  Trace room = trace_room(s, ray);
  Trace obj;
  if (trace_objects(s, ray, 1e-6, room.t, obj, false)) return obj;
  return room;
}

V3 shade(const Scene& s, const Ray& ray, const Trace& tr) {
  V3 p = ray.o + ray.d * tr.t;
  V3 n = dot(tr.n, ray.d) > 0 ? -tr.n : tr.n;
  const Material& m = tr.primitive >= 0 ? s.primitives[static_cast<std::size_t>(tr.primitive)].material : s.room[tr.face];
  V3 a = albedo(m, p);
  V3 l = s.light - p;
  double dist = length(l);
  l = l / dist;
  double ndl = std::max(0.0, dot(n, l));
  double vis = 0;
  if (ndl > 0) {
    Ray shadow{p + n * 1e-4, l};
    Trace blocker;
    vis = trace_objects(s, shadow, 1e-6, dist, blocker, true) ? 0.0 : 1.0;
  }
  double falloff = 1.0 / (1.0 + 0.03 * dist * dist);
  double light = s.ambient + (1.0 - s.ambient) * 1.5 * ndl * vis * falloff;
  return a * (light * s.exposure);
}

Ray camera_ray(const Camera& c, double u, double v) {
  double xc = (u - c.cx) / c.fx, yc = -(v - c.cy) / c.fy;
  return {c.position, normalize(c.right * xc + c.up * yc + c.forward)};
}

}  // namespace

Rendering render(const Scene& s, const RenderSettings& settings, Rng& rng) {
  const Camera& cam = s.camera;
  const int w = cam.width, h = cam.height;
  Rendering out;
  out.rgb.create(h, w, CV_8UC3);
  out.depth.create(h, w, CV_32F);
  out.normals.create(h, w, CV_32FC3);
  out.semseg.create(h, w, CV_8U);
  out.instances.create(h, w, CV_16U);
  out.parts.create(h, w, CV_8U);
  const double sub[4][2] = {{-0.25, -0.25}, {0.25, -0.25}, {-0.25, 0.25}, {0.25, 0.25}};
  for (int y = 0; y < h; ++y) {
    auto* rgb = out.rgb.ptr<cv::Vec3b>(y);
    auto* depth = out.depth.ptr<float>(y);
    auto* normals = out.normals.ptr<cv::Vec3f>(y);
    auto* cls = out.semseg.ptr<std::uint8_t>(y);
    auto* inst = out.instances.ptr<std::uint16_t>(y);
    auto* part = out.parts.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      Ray ray = camera_ray(cam, x, y);
      Trace tr = trace(s, ray);
      // Labels from the centre ray.
      depth[x] = static_cast<float>(tr.t * dot(ray.d, cam.forward));
      V3 n = dot(tr.n, ray.d) > 0 ? -tr.n : tr.n;  // facing the camera
      V3 nc{dot(n, cam.right), dot(n, cam.up), -dot(n, cam.forward)};
      V3 dc{dot(ray.d, cam.right), dot(ray.d, cam.up), -dot(ray.d, cam.forward)};
      // Keep n . (-ray) strictly positive at grazing silhouettes.
      double facing = -dot(nc, dc);
      if (facing < 1e-4) nc = normalize(nc - dc * (1e-4 - facing + 1e-6));
      normals[x] = cv::Vec3f(static_cast<float>(nc.x), static_cast<float>(nc.y), static_cast<float>(nc.z));
      if (tr.primitive >= 0) {
        const Primitive& p = s.primitives[static_cast<std::size_t>(tr.primitive)];
        cls[x] = static_cast<std::uint8_t>(p.cls);
        inst[x] = static_cast<std::uint16_t>(p.instance);
        part[x] = static_cast<std::uint8_t>(p.part);
      } else {
        cls[x] = static_cast<std::uint8_t>(tr.face == 0 ? kFloor : tr.face == 1 ? kCeiling : kWall);
        inst[x] = static_cast<std::uint16_t>(1 + tr.face);
        part[x] = 0;
      }
      // Colour.
      V3 c;
      if (settings.supersample) {
        for (const auto& o : sub) {
          Ray r = camera_ray(cam, x + o[0], y + o[1]);
          c += shade(s, r, trace(s, r));
        }
        c = c * 0.25;
      } else {
        c = shade(s, ray, tr);
      }
      double lin[3] = {c.x, c.y, c.z};
      for (int ch = 0; ch < 3; ++ch) {
        double v = std::pow(std::clamp(lin[ch], 0.0, 1.0), 1.0 / 2.2) * 255.0 + rng.normal() * settings.noise_sigma;
        rgb[x][ch] = static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  add_depth_holes(out.depth, out.normals, settings.depth_hole_fraction, rng);
  return out;
}

void add_depth_holes(cv::Mat& depth, cv::Mat& normals, double fraction, Rng& rng) {
  if (fraction <= 0) return;
  const int h = depth.rows, w = depth.cols;
  int blobs = rng.randint(1, 4);
  double area = fraction * w * h / blobs;
  for (int b = 0; b < blobs; ++b) {
    double cx = rng.uniform(0, w), cy = rng.uniform(0, h);
    double aspect = rng.uniform(0.5, 2.0);
    double ra = std::sqrt(area * aspect / kPi), rb = std::sqrt(area / (aspect * kPi));
    double rot = rng.uniform(0, kPi);
    int k = rng.randint(2, 5);
    double phase = rng.uniform(0, 2 * kPi), wobble = rng.uniform(0.1, 0.3);
    double reach = std::max(ra, rb) * (1 + wobble) + 1;
    int y0 = std::max(0, static_cast<int>(cy - reach)), y1 = std::min(h - 1, static_cast<int>(cy + reach));
    int x0 = std::max(0, static_cast<int>(cx - reach)), x1 = std::min(w - 1, static_cast<int>(cx + reach));
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        double u = dx * std::cos(rot) + dy * std::sin(rot), v = -dx * std::sin(rot) + dy * std::cos(rot);
        double r = std::sqrt((u / ra) * (u / ra) + (v / rb) * (v / rb));
        double theta = std::atan2(v, u);
        if (r <= 1.0 + wobble * std::sin(k * theta + phase)) {
          depth.at<float>(y, x) = 0.0f;
          normals.at<cv::Vec3f>(y, x) = cv::Vec3f(0, 0, 0);
        }
      }
    }
  }
}

}  // namespace densemtl::synthetic

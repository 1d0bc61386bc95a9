// Vector maths and ray-primitive intersection for the procedural scenes renderer.
// All intersection routines take a normalised direction and report the nearest hit with
// t in (t_min, t_max) together with the outward unit normal.
#pragma once

#include <algorithm>
#include <cmath>

namespace densemtl::synthetic {

struct V3 {
  double x = 0, y = 0, z = 0;
  V3() = default;
  V3(double x_, double y_, double z_) : x(x_), y(y_), z(z_) {}
  V3 operator+(const V3& o) const { return {x + o.x, y + o.y, z + o.z}; }
  V3 operator-(const V3& o) const { return {x - o.x, y - o.y, z - o.z}; }
  V3 operator-() const { return {-x, -y, -z}; }
  V3 operator*(double s) const { return {x * s, y * s, z * s}; }
  V3 operator/(double s) const { return {x / s, y / s, z / s}; }
  V3& operator+=(const V3& o) { x += o.x; y += o.y; z += o.z; return *this; }
  V3 mul(const V3& o) const { return {x * o.x, y * o.y, z * o.z}; }
};
inline double dot(const V3& a, const V3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline V3 cross(const V3& a, const V3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline double length(const V3& a) { return std::sqrt(dot(a, a)); }
inline V3 normalize(const V3& a) {
  double l = length(a);
  return l > 0 ? a / l : a;
}

struct Ray {
  V3 o, d;  // d is unit length
};

struct Hit {
  double t = 1e30;
  V3 n;
};

// Sphere centre c, radius r.
inline bool hit_sphere(const Ray& ray, const V3& c, double r, double t_min, double t_max, Hit& hit) {
  V3 oc = ray.o - c;
  double b = dot(oc, ray.d);
  double cc = dot(oc, oc) - r * r;
  double h = b * b - cc;
  if (h < 0) return false;
  h = std::sqrt(h);
  double t = -b - h;
  if (t <= t_min) t = -b + h;
  if (t <= t_min || t >= t_max) return false;
  hit.t = t;
  hit.n = (ray.o + ray.d * t - c) / r;
  return true;
}

// Capsule: the segment a-b swept by a sphere of radius r.
inline bool hit_capsule(const Ray& ray, const V3& a, const V3& b, double r, double t_min, double t_max, Hit& hit) {
  V3 ba = b - a, oa = ray.o - a;
  double baba = dot(ba, ba), bard = dot(ba, ray.d), baoa = dot(ba, oa);
  double rdoa = dot(ray.d, oa), oaoa = dot(oa, oa);
  double qa = baba - bard * bard;
  double qb = baba * rdoa - baoa * bard;
  double qc = baba * oaoa - baoa * baoa - r * r * baba;
  double h = qb * qb - qa * qc;
  if (h >= 0 && qa > 1e-12) {
    double t = (-qb - std::sqrt(h)) / qa;
    double y = baoa + t * bard;
    if (y > 0 && y < baba) {
      if (t <= t_min || t >= t_max) return false;
      hit.t = t;
      V3 p = ray.o + ray.d * t;
      double k = std::clamp(dot(p - a, ba) / baba, 0.0, 1.0);
      hit.n = (p - a - ba * k) / r;
      return true;
    }
  }
  // End caps (or a ray parallel to the axis): the nearer of the two spheres.
  Hit h1, h2;
  bool s1 = hit_sphere(ray, a, r, t_min, t_max, h1);
  bool s2 = hit_sphere(ray, b, r, t_min, t_max, h2);
  if (!s1 && !s2) return false;
  hit = (s1 && (!s2 || h1.t < h2.t)) ? h1 : h2;
  return true;
}

// Capped cylinder from a to b with radius r.
inline bool hit_cylinder(const Ray& ray, const V3& a, const V3& b, double r, double t_min, double t_max, Hit& hit) {
  V3 ba = b - a, oc = ray.o - a;
  double baba = dot(ba, ba), bard = dot(ba, ray.d), baoc = dot(ba, oc);
  bool found = false;
  double k2 = baba - bard * bard;
  if (k2 > 1e-12) {
    double k1 = baba * dot(oc, ray.d) - baoc * bard;
    double k0 = baba * dot(oc, oc) - baoc * baoc - r * r * baba;
    double h = k1 * k1 - k2 * k0;
    if (h >= 0) {
      double t = (-k1 - std::sqrt(h)) / k2;
      double y = baoc + t * bard;
      if (y > 0 && y < baba && t > t_min && t < t_max) {
        hit.t = t;
        hit.n = (oc + ray.d * t - ba * (y / baba)) / r;
        found = true;
      }
    }
  }
  // Caps: discs at a (normal -axis) and b (normal +axis).
  if (std::fabs(bard) > 1e-12) {
    V3 axis = ba / std::sqrt(baba);
    for (int cap = 0; cap < 2; ++cap) {
      double t = ((cap ? baba : 0.0) - baoc) / bard;
      if (t <= t_min || t >= t_max || (found && t >= hit.t)) continue;
      V3 p = ray.o + ray.d * t - (cap ? b : a);
      if (dot(p, p) <= r * r) {
        hit.t = t;
        hit.n = cap ? axis : -axis;
        found = true;
      }
    }
  }
  return found;
}

// Oriented box: centre c, orthonormal axes u, v, w, half extents e.
inline bool hit_box(const Ray& ray, const V3& c, const V3& u, const V3& v, const V3& w, const V3& e,
                    double t_min, double t_max, Hit& hit) {
  V3 o = ray.o - c;
  double ro[3] = {dot(o, u), dot(o, v), dot(o, w)};
  double rd[3] = {dot(ray.d, u), dot(ray.d, v), dot(ray.d, w)};
  double ext[3] = {e.x, e.y, e.z};
  double t0 = -1e30, t1 = 1e30;
  int axis0 = -1;
  double sign0 = 1;
  for (int i = 0; i < 3; ++i) {
    if (std::fabs(rd[i]) < 1e-15) {
      if (std::fabs(ro[i]) > ext[i]) return false;
      continue;
    }
    double inv = 1.0 / rd[i];
    double ta = (-ext[i] - ro[i]) * inv, tb = (ext[i] - ro[i]) * inv;
    double s = -1;  // the entry face is on the -axis side when moving in +axis direction
    if (ta > tb) {
      std::swap(ta, tb);
      s = 1;
    }
    if (ta > t0) {
      t0 = ta;
      axis0 = i;
      sign0 = s;
    }
    t1 = std::min(t1, tb);
    if (t0 > t1) return false;
  }
  if (axis0 < 0 || t0 <= t_min || t0 >= t_max) return false;
  hit.t = t0;
  const V3& ax = axis0 == 0 ? u : axis0 == 1 ? v : w;
  hit.n = ax * sign0;
  return true;
}

}  // namespace densemtl::synthetic

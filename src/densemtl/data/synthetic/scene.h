// Procedural indoor scenes: a box room, a pinhole camera inside it, objects standing on the floor
// (cabinets, tables, balls, pillars, posed people) and pictures on the walls. A scene is a list
// of primitives, each tagged with its semantic class, instance and human part.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "densemtl/core/rng.h"
#include "densemtl/data/synthetic/geometry.h"

namespace densemtl::synthetic {

// Semantic classes, in the order written to meta.json (on disk: class + 1, 0 = ignore).
enum Class : int { kWall = 0, kFloor, kCeiling, kCabinet, kTable, kBall, kPillar, kPerson, kPicture, kNumClasses };
const std::vector<std::string>& class_names();
// Human parts: 0 background, then head, torso, upper arm, lower arm, upper leg, lower leg.
enum Part : int { kNoPart = 0, kHead, kTorso, kUpperArm, kLowerArm, kUpperLeg, kLowerLeg };
const std::vector<std::string>& part_names();
// Foreground classes: the saliency mask.
bool is_foreground(int cls);

enum class Texture { Plain, Checker, Stripes, Noise };

struct Material {
  V3 base, alt;              // linear RGB in [0, 1]
  Texture texture = Texture::Plain;
  double scale = 0.2;        // texture period in metres
  V3 direction{1, 0, 0};     // stripes direction
  std::uint32_t noise_seed = 0;
};

enum class Shape { Sphere, Capsule, Cylinder, Box };

struct Primitive {
  Shape shape = Shape::Sphere;
  V3 a, b;                   // sphere: a = centre; capsule, cylinder: axis end points; box: a = centre
  double r = 0;              // radius
  V3 u{1, 0, 0}, v{0, 1, 0}, w{0, 0, 1}, half;  // box axes and half extents
  int cls = 0, instance = 0, part = kNoPart;
  Material material;
};

// A group of primitives with a bounding sphere, for culling.
struct Object {
  int first = 0, count = 0;  // range in Scene::primitives
  V3 centre;
  double radius = 0;
};

struct Camera {
  V3 position, right, up, forward;  // forward = viewing direction; camera frame: x right, y up, z = -forward
  int width = 0, height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;  // pixel (u, v) centre looks along (u - cx)/fx, -(v - cy)/fy
};

struct SceneSettings {
  int width = 128, height = 96;
  double hfov_degrees = 63.3;  // NYUD's Kinect: fx = 518.9 at 640 px
  int min_objects = 3, max_objects = 12;
  int max_pictures = 3;
};

struct Scene {
  double room_w = 0, room_d = 0, room_h = 0;  // x in [0, w], y in [0, d], z in [0, h]
  Material room[6];                            // floor, ceiling, walls x=0, x=w, y=0, y=d
  Camera camera;
  V3 light;
  double ambient = 0.3, exposure = 1.0;
  std::vector<Primitive> primitives;
  std::vector<Object> objects;
  int instances = 0;                           // number of instance ids in use (room included)
};

// Camera intrinsics for the settings (the same for every scene of a dataset).
Camera make_intrinsics(const SceneSettings& settings);
Scene sample_scene(const SceneSettings& settings, Rng& rng);

// Linear RGB albedo of a material at world point p.
V3 albedo(const Material& m, const V3& p);

}  // namespace densemtl::synthetic

#include "densemtl/train/experiment.h"

#include "densemtl/core/error.h"
#include "densemtl/tasks/registry.h"

namespace densemtl {

using namespace config;

const Spec& experiment_schema() {
  static const Spec schema = section("", "", {
      text("name", "", "Run name (default: the config file's name)"),
      integer("seed", 0, 0, 2147483647, "Seed for data order, augmentation and initialisation"),
      integer("threads", 0, 0, 1024, "Intra-op threads for LibTorch; 0 = all cores"),
      choice("device", "cpu", {"cpu", "cuda"}, "Where to train and evaluate (cuda needs a CUDA build of LibTorch)"),
      section("data", "Dataset and data pipeline", {
          required(choice("dataset", "", {"synthetic", "nyud", "pascal", "mtan"}, "Dataset layout (synthetic = the procedural scenes, NYUD-MT layout)")),
          required(path("root", "", "Dataset folder")),
          text("train_split", "train", "Split to train on"),
          text("val_split", "", "Split for model selection; empty = carve data.val_share off the training split"),
          real("val_share", 0.1, 0.0, 0.9, "Share of the training split held out for model selection when val_split is empty"),
          text("test_split", "test", "Split scored once at the end, for the final model"),
          int_list("input_size", {}, 8, 4096, 0, 2, "Network input [H, W]; empty = the dataset's size (NYUD 480x640, PASCAL 512x512)"),
          integer("max_train_images", 0, 0, 1e9, "Use only the first N training images (0 = all); for quick runs"),
          integer("workers", 2, 0, 64, "Loader threads (0 = load in the training thread)"),
          integer("prefetch", 2, 1, 64, "Batches prepared ahead per loader thread"),
          section("augment", "Training augmentation (spec 3.4)", {
              boolean("flip", true, "Random horizontal flip, p = 0.5 (normals' x negated)"),
              float_list("scales", {}, 0.05, 8.0, 0, 64, "Zoom factors to choose from uniformly (NYUD: [1.0, 1.2, 1.5])"),
              float_list("scale_range", {}, 0.05, 8.0, 0, 2, "Continuous zoom range [lo, hi] (PASCAL: [0.75, 1.25]); used when scales is empty"),
              real("rotation", 0.0, 0.0, 180.0, "Rotation uniform in [-r, r] degrees (PASCAL: 20)"),
          }),
      }),
      section("tasks", "Tasks and their loss weights", {
          required(string_list("main", {}, tasks::names(), 1, "Tasks the model predicts and is scored on")),
          string_list("aux", {}, tasks::names(), 0, "Auxiliary tasks (deep supervision of PAD-Net / MTI-Net)"),
          float_map("loss_weights", tasks::names(), 0.0, 1e6, "Fixed loss weight per task (missing = 1)"),
          exclusive_min(real("edge_pos_weight", 0.95, 0.0, 1.0, "Weight of boundary pixels in the balanced edge loss")),
      }),
      section("model", "Architecture", {
          required(choice("architecture", "", {"single_task", "baseline"}, "single_task: one task; baseline: shared encoder + one head per task")),
          required(choice("head", "", {"deeplab", "hrnet"}, "Task head: DeepLab-v3 ASPP (ResNet) or HRNet head")),
          exclusive_min(real("width", 1.0, 0.0, 1.0, "Channel width multiplier (1 = the reference networks; < 1 for small CPU runs, parameter counts then differ)")),
          path("weights", "", "Checkpoint of the survey's Python code to import (optional)"),
          boolean("channels_last", true, "Keep weights and activations in NHWC order (faster convolutions through oneDNN on CPU and on recent GPUs)"),
      }),
      section("backbone", "Encoder", {
          required(choice("name", "", {"resnet18", "resnet50", "hrnet_w18"}, "Backbone network")),
          boolean("dilated", true, "Dilated ResNet, output stride 8 (ResNet only)"),
          path("weights", "", "ImageNet weights as a PyTorch state-dict file (torchvision / HRNet naming)"),
      }),
      section("optimizer", "Optimizer", {
          required(choice("name", "", {"adam", "sgd"}, "adam (coupled L2 weight decay, as the reference) or sgd with momentum")),
          required(exclusive_min(real("lr", 0.0, 0.0, 10.0, "Initial learning rate"))),
          real("weight_decay", 1e-4, 0.0, 1.0, "L2 weight decay"),
          real("momentum", 0.9, 0.0, 0.999, "SGD momentum"),
          boolean("nesterov", false, "SGD Nesterov momentum"),
      }),
      section("scheduler", "Learning-rate schedule", {
          choice("name", "poly", {"poly", "constant"}, "poly: lr0 * (1 - t/T)^power"),
          real("power", 0.9, 0.0, 10.0, "Poly exponent"),
          choice("per", "epoch", {"epoch", "iteration"}, "Update the rate per epoch (the reference) or per iteration"),
      }),
      section("balancer", "Task balancing", {
          choice("name", "fixed", {"fixed"}, "How task losses combine: fixed weights (tasks.loss_weights)"),
      }),
      section("train", "Training loop", {
          required(integer("epochs", 0, 1, 1e6, "Epochs")),
          integer("batch_size", 8, 1, 4096, "Training batch size"),
          boolean("drop_last", true, "Drop the last incomplete batch of an epoch"),
          integer("eval_every", 1, 0, 1e6, "Validate every N epochs (0 = only after the last)"),
          choice("amp", "none", {"none", "bf16"}, "Mixed precision on CUDA: bf16 autocast (device: cuda only)"),
      }),
      section("eval", "Evaluation", {
          integer("batch_size", 8, 1, 4096, "Evaluation batch size"),
          real("edge_max_dist", 0.0, 0.0, 1.0, "Boundary matching tolerance as a fraction of the diagonal; 0 = dataset default"),
          integer("edge_thresholds", 99, 1, 1000, "Thresholds for boundary odsF/oisF/AP"),
      }),
  });
  return schema;
}

std::unique_ptr<data::Dataset> open_experiment_dataset(const Config& cfg) {
  return with_context(cfg.source(), [&] {
    return data::open_dataset(cfg.get_string("data.root"), data::parse_format(cfg.get_string("data.dataset")));
  });
}

cv::Size experiment_input_size(const Config& cfg, const data::DatasetInfo& info) {
  auto hw = cfg.get_int_list("data.input_size");
  if (hw.size() == 2) return cv::Size(static_cast<int>(hw[1]), static_cast<int>(hw[0]));
  if (!hw.empty()) fail("{}: data.input_size: expected [H, W]", cfg.source());
  if (!info.default_size) fail("{}: data.input_size: the dataset has no default size; set [H, W]", cfg.source());
  return *info.default_size;
}

data::PipelineOptions experiment_pipeline(const Config& cfg, const data::DatasetInfo& info) {
  data::PipelineOptions o;
  o.size = experiment_input_size(cfg, info);
  o.normals_y_down = info.normals_y_down;
  o.augment.flip = cfg.get_bool("data.augment.flip");
  o.augment.scales = cfg.get_float_list("data.augment.scales");
  auto range = cfg.get_float_list("data.augment.scale_range");
  if (range.size() == 2) {
    if (range[0] > range[1]) fail("{}: data.augment.scale_range: expected [lo, hi] with lo <= hi", cfg.source());
    o.augment.scale_min = range[0];
    o.augment.scale_max = range[1];
  } else if (range.size() == 1) {
    fail("{}: data.augment.scale_range: expected [lo, hi]", cfg.source());
  }
  o.augment.rotation = cfg.get_float("data.augment.rotation");
  return o;
}

}  // namespace densemtl

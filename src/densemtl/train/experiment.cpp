#include "densemtl/train/experiment.h"

#include <algorithm>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/readers/readers.h"

namespace densemtl {

using namespace config;

namespace {

std::vector<Spec> concat(std::vector<Spec> a, const std::vector<Spec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string choices_help(const std::vector<std::string>& names, const std::function<std::string(const std::string&)>& help) {
  std::vector<std::string> parts;
  for (const auto& n : names) parts.push_back(n + ": " + help(n));
  return join(parts, "; ");
}

}  // namespace

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
          boolean("select_on_test", false,
                  "Allow a training or validation split equal to data.test_split (as some reference scripts select on their test "
                  "split); off, such a config is refused, so that the test split is scored once, unseen"),
          int_list("input_size", {}, 8, 4096, 0, 2, "Network input [H, W]; empty = the dataset's size (NYUD 480x640, PASCAL 512x512)"),
          integer("max_train_images", 0, 0, 1e9, "Use only the first N training images (0 = all); for quick runs"),
          integer("workers", 2, 0, 64, "Loader threads (0 = load in the training thread)"),
          integer("prefetch", 2, 1, 64, "Batches prepared ahead per loader thread"),
          section("augment", "Training augmentation (as in the survey's code)", {
              boolean("flip", true, "Random horizontal flip, p = 0.5 (normals' x negated)"),
              float_list("scales", {}, 0.05, 8.0, 0, 64, "Zoom factors to choose from uniformly (NYUD: [1.0, 1.2, 1.5])"),
              float_list("scale_range", {}, 0.05, 8.0, 0, 2, "Continuous zoom range [lo, hi] (PASCAL: [0.75, 1.25]); used when scales is empty"),
              real("rotation", 0.0, 0.0, 180.0, "Rotation uniform in [-r, r] degrees (PASCAL: 20)"),
          }),
      }),
      section("tasks", "Tasks, their loss weights and their own options",
              concat({
                  required(string_list("main", {}, tasks::names(), 1, "Tasks the model predicts and is scored on")),
                  string_list("aux", {}, tasks::names(), 0, "Auxiliary tasks (deep supervision of decoder-focused models: PAD-Net, MTI-Net)"),
                  float_map("loss_weights", tasks::names(), 0.0, 1e6, "Fixed loss weight per task (missing = 1), read by balancers that use fixed weights"),
              }, tasks::option_sections())),
      section("model", "Architecture",
              concat({
                  required(choice("architecture", "", models::architecture_names(),
                                  choices_help(models::architecture_names(), [](const std::string& n) { return models::architecture_entry(n).help; }))),
                  required(choice("head", "", {"deeplab", "hrnet"}, "Task head: DeepLab-v3 ASPP (ResNet) or HRNet head")),
                  exclusive_min(real("width", 1.0, 0.0, 1.0, "Channel width multiplier (1 = the reference networks; < 1 for small CPU runs, parameter counts then differ)")),
                  path("weights", "", "Checkpoint of the survey's Python code to import (optional)"),
                  boolean("channels_last", true, "Keep weights and activations in NHWC order (faster convolutions through oneDNN on CPU and on recent GPUs)"),
              }, models::architecture_option_sections())),
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
          choice("name", "poly", {"poly", "step", "constant"},
                 "poly: lr0 * (1 - t/T)^power; step: lr0 * gamma^floor(epoch / step_epochs) (torch's StepLR, as LibMTL)"),
          real("power", 0.9, 0.0, 10.0, "Poly exponent"),
          integer("step_epochs", 100, 1, 1000000, "Step schedule: epochs between decays"),
          real("gamma", 0.5, 0.0, 1.0, "Step schedule: factor per decay"),
          choice("per", "epoch", {"epoch", "iteration"}, "Update the rate per epoch (the reference) or per iteration"),
      }),
      section("balancer", "Task balancing",
              concat({
                  choice("name", "fixed", balancing::balancer_names(),
                         "How task losses combine: " +
                             choices_help(balancing::balancer_names(), [](const std::string& n) { return balancing::balancer_entry(n).help; })),
              }, balancing::balancer_option_sections())),
      section("train", "Training loop", {
          required(integer("epochs", 0, 1, 1e6, "Epochs")),
          integer("batch_size", 8, 1, 4096, "Training batch size"),
          boolean("drop_last", true, "Drop the last incomplete batch of an epoch"),
          integer("eval_every", 1, 0, 1e6, "Validate every N epochs (0 = only after the last)"),
          choice("amp", "none", {"none", "bf16"}, "Mixed precision on CUDA: bf16 autocast (device: cuda only)"),
          boolean("sync_bn", false,
                  "Several processes: batch norms use the statistics of the global batch (as one process on the whole "
                  "batch); off: each process's own part"),
      }),
      section("distributed", "Several processes (densemtl launch, torchrun, Slurm); ignored in a one-process run", {
          choice("backend", "auto", {"auto", "gloo", "nccl"}, "Process group: gloo (CPUs), nccl (GPUs, CUDA builds with NCCL); auto: nccl on cuda when available"),
          real("timeout", 300.0, 1.0, 86400.0, "Seconds any process waits for the others (rendezvous, sums) before stopping with an error naming the missing rank"),
          real("bucket_mb", 25.0, 0.01, 4096.0, "Gradient bucket size in MiB: each bucket is summed over the processes while the backward pass goes on"),
          boolean("overlap", true, "Start each bucket's sum as soon as its gradients are ready (false: all after the backward pass; for measurements)"),
      }),
      section("eval", "Evaluation", {
          integer("batch_size", 8, 1, 4096, "Evaluation batch size"),
      }),
  });
  return schema;
}

Experiment Experiment::load(const fs::path& file, const std::vector<std::string>& overrides) {
  return from(Config::load(experiment_schema(), file, overrides));
}

Experiment Experiment::from(const Config& cfg) {
  Experiment e;
  e.config = std::make_shared<const Config>(cfg);
  const std::string src = cfg.source();
  e.name = cfg.get_string("name");
  e.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  e.threads = static_cast<int>(cfg.get_int("threads"));
  e.device = cfg.get_string("device");

  e.data.dataset = cfg.get_string("data.dataset");
  e.data.root = cfg.get_string("data.root");
  e.data.train_split = cfg.get_string("data.train_split");
  e.data.val_split = cfg.get_string("data.val_split");
  e.data.test_split = cfg.get_string("data.test_split");
  e.data.val_share = cfg.get_float("data.val_share");
  e.data.input_size = cfg.get_int_list("data.input_size");
  if (e.data.input_size.size() == 1) fail("{}: data.input_size: expected [H, W]", src);
  e.data.max_train_images = static_cast<std::size_t>(cfg.get_int("data.max_train_images"));
  e.data.workers = static_cast<int>(cfg.get_int("data.workers"));
  e.data.prefetch = static_cast<int>(cfg.get_int("data.prefetch"));

  e.tasks.main = tasks::canonical(cfg.get_string_list("tasks.main"));
  e.tasks.aux = tasks::canonical(cfg.get_string_list("tasks.aux"));
  e.tasks.all = e.tasks.main;
  for (const auto& a : e.tasks.aux)
    if (std::find(e.tasks.all.begin(), e.tasks.all.end(), a) == e.tasks.all.end()) e.tasks.all.push_back(a);
  e.tasks.all = tasks::canonical(e.tasks.all);
  e.tasks.loss_weights = cfg.get_float_map("tasks.loss_weights");

  e.model.architecture = cfg.get_string("model.architecture");
  e.model.head = cfg.get_string("model.head");
  e.model.width = cfg.get_float("model.width");
  e.model.channels_last = cfg.get_bool("model.channels_last");
  e.model.weights = cfg.get_string("model.weights");
  e.model.backbone = cfg.get_string("backbone.name");
  e.model.dilated = cfg.get_bool("backbone.dilated");
  e.model.backbone_weights = cfg.get_string("backbone.weights");

  e.balancer = cfg.get_string("balancer.name");
  e.train.epochs = static_cast<int>(cfg.get_int("train.epochs"));
  e.train.batch_size = static_cast<int>(cfg.get_int("train.batch_size"));
  e.train.drop_last = cfg.get_bool("train.drop_last");
  e.train.eval_every = static_cast<int>(cfg.get_int("train.eval_every"));
  e.train.amp = cfg.get_string("train.amp") == "bf16";
  e.train.sync_bn = cfg.get_bool("train.sync_bn");
  e.distributed.backend = cfg.get_string("distributed.backend");
  e.distributed.timeout = cfg.get_float("distributed.timeout");
  e.distributed.bucket_mb = cfg.get_float("distributed.bucket_mb");
  e.distributed.overlap = cfg.get_bool("distributed.overlap");
  e.eval.batch_size = static_cast<int>(cfg.get_int("eval.batch_size"));

  // Model selection and training never see the test split unless a key says it is meant.
  if (!cfg.get_bool("data.select_on_test")) {
    if (e.data.val_split == e.data.test_split)
      fail("{}: data.val_split: '{}' is also data.test_split: the model would be chosen on the split it is scored on; use "
           "another split (or data.val_share), or set data.select_on_test: true if this is meant", src, e.data.val_split);
    if (e.data.train_split == e.data.test_split)
      fail("{}: data.train_split: '{}' is also data.test_split: the model would be scored on images it trained on; set "
           "data.select_on_test: true if this is meant", src, e.data.train_split);
  }
  // A run's name becomes a folder (runs/<name>): a plain file name only.
  if (!e.name.empty() && (e.name == "." || e.name == ".." || e.name.find_first_of("/\\") != std::string::npos ||
                          std::any_of(e.name.begin(), e.name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })))
    fail("{}: name: '{}' is not a plain folder name (no '/', no control characters, not '.' or '..')", src, e.name);
  // Keys that another key makes meaningless are errors, not silently ignored.
  if (e.train.amp && e.device != "cuda") fail("{}: train.amp: bf16 needs device: cuda", src);
  if (cfg.get_string("scheduler.name") == "step" && cfg.get_string("scheduler.per") == "iteration")
    fail("{}: scheduler.per: the step schedule decays per epoch (torch's StepLR as LibMTL steps it); use per: epoch", src);
  for (const auto& [task, w] : e.tasks.loss_weights)
    if (std::find(e.tasks.all.begin(), e.tasks.all.end(), task) == e.tasks.all.end())
      fail("{}: tasks.loss_weights.{}: the model has no {} task (tasks: {})", src, task, task, join(e.tasks.all, ", "));
  if (!e.tasks.loss_weights.empty() && !balancing::balancer_entry(e.balancer).uses_loss_weights)
    fail("{}: tasks.loss_weights: balancer {} does not use fixed loss weights; remove them or use balancer.name: fixed", src,
         e.balancer);
  if (e.model.head == "hrnet" && e.model.backbone != "hrnet_w18")
    fail("{}: model.head: the hrnet head needs backbone.name: hrnet_w18 (got {})", src, e.model.backbone);
  if (e.model.head == "deeplab" && e.model.backbone == "hrnet_w18")
    fail("{}: model.head: deeplab reads one feature map (resnet18, resnet50); hrnet_w18 pairs with head: hrnet", src);
  models::ModelSpec probe;
  probe.architecture = e.model.architecture;
  probe.tasks = e.tasks.main;
  probe.aux_tasks = e.tasks.aux;
  probe.backbone.name = e.model.backbone;
  probe.head.name = e.model.head;
  probe.config = e.config;
  const models::ArchitectureEntry& arch = models::architecture_entry(e.model.architecture);
  if (arch.accepts) {
    std::string why = arch.accepts(probe);
    if (!why.empty()) fail("{}: {}", src, why);
  }
  return e;
}

tasks::TaskSet Experiment::task_set() const { return tasks::TaskSet(tasks.all, config.get()); }

models::ModelSpec Experiment::model_spec(const data::DatasetInfo& dataset) const {
  models::ModelSpec s;
  s.architecture = model.architecture;
  s.backbone.name = model.backbone;
  s.backbone.dilated = model.dilated;
  s.backbone.width = model.width;
  s.head.name = model.head;
  s.head.width = model.width;
  s.tasks = tasks.main;
  s.aux_tasks = tasks.aux;
  s.config = config;
  const std::string& src = source();
  for (const auto& t : tasks.all) {
    if (!dataset.has_task(t))
      fail("{}: tasks: the dataset at {} has no '{}' labels (it has: {})", src, dataset.root.string(), t, join(dataset.tasks, ", "));
    s.outputs[t] = tasks::get(t).output_channels(dataset);
  }
  return s;
}

balancing::Setup Experiment::balancer_setup() const {
  balancing::Setup s;
  s.tasks = tasks.all;
  s.loss_weights = tasks.loss_weights;
  std::string section = "balancer." + balancer;
  if (config->has(section)) s.options = View(*config, section);
  return s;
}

std::unique_ptr<data::Dataset> Experiment::open_dataset() const {
  return with_context(source(), [&] { return data::open_dataset(data.root, data::parse_format(data.dataset)); });
}

data::DatasetInfo Experiment::dataset_info() const {
  if (fs::exists(data.root)) return open_dataset()->info();
  if (data.dataset == "synthetic")
    fail("{}: data.root: dataset folder not found: {} (generate it with densemtl generate)", source(), data.root.string());
  return data::standard_info(data::parse_format(data.dataset), data.root);
}

cv::Size Experiment::input_size(const data::DatasetInfo& info) const {
  if (data.input_size.size() == 2) return cv::Size(static_cast<int>(data.input_size[1]), static_cast<int>(data.input_size[0]));
  if (!info.default_size) fail("{}: data.input_size: the dataset has no default size; set [H, W]", source());
  return *info.default_size;
}

data::PipelineOptions Experiment::pipeline(const data::DatasetInfo& info) const {
  const Config& cfg = *config;
  data::PipelineOptions o;
  o.size = input_size(info);
  o.normals_y_down = info.normals_y_down;
  o.augment.flip = cfg.get_bool("data.augment.flip");
  o.augment.scales = cfg.get_float_list("data.augment.scales");
  auto range = cfg.get_float_list("data.augment.scale_range");
  if (range.size() == 2) {
    if (range[0] > range[1]) fail("{}: data.augment.scale_range: expected [lo, hi] with lo <= hi", source());
    o.augment.scale_min = range[0];
    o.augment.scale_max = range[1];
  } else if (range.size() == 1) {
    fail("{}: data.augment.scale_range: expected [lo, hi]", source());
  }
  o.augment.rotation = cfg.get_float("data.augment.rotation");
  return o;
}

}  // namespace densemtl

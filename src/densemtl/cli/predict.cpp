// densemtl predict: predictions, pictures and mosaics for an image, a folder of images, or a
// dataset split (then with the ground truth beside each prediction).
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/data/loader.h"
#include "densemtl/data/pipeline.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/report/mosaic.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/run.h"

namespace densemtl::cli {

namespace {

struct Options {
  std::string run, input, out, split = "test", format, device = "cpu";
  int threads = 0, limit = 0;
  double max_megapixels = 24;
};

struct Item {
  std::string name;  // output file stem
  std::string id;    // dataset id (dataset inputs)
  fs::path file;     // image file (image inputs)
};

bool is_image(const fs::path& p) {
  std::string e = lower(p.extension().string());
  return e == ".jpg" || e == ".jpeg" || e == ".png";
}

bool looks_like_dataset(const fs::path& p) {
  return fs::is_directory(p) && (fs::exists(p / "gt_sets") || fs::exists(p / "ImageSets") || fs::exists(p / "train" / "image"));
}

}  // namespace

Subcommand add_predict(CLI::App& root) {
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand("predict", "Predict every task of a trained run for images, with pictures and mosaics");
  app->add_option("--run", o->run, "Run folder of densemtl train")->required();
  app->add_option("--input", o->input, "An image, a folder of images, or a dataset folder (then --split, with ground truth)")->required();
  app->add_option("--out", o->out, "Output folder: <task>/ predictions, pictures/<task>/, mosaics/")->required()->check(path_validator());
  app->add_option("--split", o->split, "Split of a dataset input")->capture_default_str();
  app->add_option("--format", o->format, "Dataset format of a dataset input (detected when not given)")->check(format_validator());
  app->add_option("--limit", o->limit, "At most this many images (0 = all)")->check(CLI::Range(0, 100000000));
  app->add_option("--max-megapixels", o->max_megapixels,
                  "Refuse larger images: predictions are written at the input's size, and each task's full-size output "
                  "takes memory in proportion (about 1 GB per 6 megapixels for 40 classes)")
      ->check(CLI::Range(0.01, 10000.0))
      ->capture_default_str();
  app->add_option("--threads", o->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
  app->add_option("--device", o->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  return {app, [o]() {
            setup_torch(o->threads);
            train::Run run = train::open_run(o->run);
            const Experiment& x = run.experiment;
            data::DatasetInfo info = x.dataset_info();
            models::Architecture model = train::load_run_model(run, info, o->device);
            const torch::Device device = select_device(o->device, "predict");
            const bool channels_last = x.model.channels_last;
            const tasks::TaskSet task_set(x.tasks.main, x.config.get());
            const std::vector<std::string>& task_list = task_set.names();
            data::PipelineOptions pipe = x.pipeline(info);

            fs::path input = o->input;
            std::unique_ptr<data::Dataset> dataset;
            std::vector<Item> items;
            if (looks_like_dataset(input)) {
              std::optional<data::Format> format;
              if (!o->format.empty()) format = data::parse_format(o->format);
              dataset = data::open_dataset(input, format);
              for (const auto& id : dataset->ids(o->split)) {
                std::string name = id;
                std::replace(name.begin(), name.end(), '/', '_');
                items.push_back({name, id, {}});
              }
            } else if (fs::is_directory(input)) {
              for (const auto& e : fs::directory_iterator(input))
                if (e.is_regular_file() && is_image(e.path())) items.push_back({e.path().stem().string(), "", e.path()});
              std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.name < b.name; });
              if (items.empty()) fail("{}: no .jpg or .png images", input.string());
            } else {
              require_file(input, "input image");
              items.push_back({input.stem().string(), "", input});
            }
            if (o->limit > 0 && items.size() > static_cast<std::size_t>(o->limit)) items.resize(static_cast<std::size_t>(o->limit));

            // The run's tasks that a dataset input has ground truth for.
            std::vector<std::string> available;
            if (dataset)
              for (const auto& t : task_list)
                if (dataset->info().has_task(t)) available.push_back(t);

            fs::path out = o->out;
            const data::Pipeline prepare(pipe, /*train=*/false);
            Rng unused;  // an evaluation pipeline draws nothing
            c10::InferenceMode inference;
            ProgressBar bar("predict", static_cast<std::int64_t>(items.size()), "img");
            for (const auto& item : items) {
              data::Sample raw;
              if (dataset) {
                raw = dataset->load(item.id, available);
              } else {
                const cv::Mat rgb = image::read_rgb(item.file);
                if (static_cast<double>(rgb.total()) > o->max_megapixels * 1e6)
                  fail("{}: {}x{} is {:.2f} megapixels, more than --max-megapixels {:g}: every task's prediction is made at the "
                       "input's size; resize the image, or raise the limit if the memory is there",
                       item.file.string(), rgb.cols, rgb.rows, static_cast<double>(rgb.total()) / 1e6, o->max_megapixels);
                rgb.convertTo(raw.image, CV_32FC3);
              }
              cv::Size original = raw.image.size();
              data::Sample net;
              net.image = raw.image.clone();
              torch::Tensor x = data::collate({prepare(std::move(net), unused)}, {original}, {}).image;
              models::ModelOutput pred = model->forward(to_model_layout(x.to(device), channels_last));
              std::vector<report::Tile> top = {{"input", report::to_rgb8(raw.image)}}, bottom;
              bool has_gt = false;
              for (const auto& t : task_list) {
                const tasks::Task& task = task_set.at(t);
                cv::Mat stored = task.encode_prediction(pred.tasks.at(t)[0].to(torch::kCPU), original);
                task.write_prediction(eval::prediction_path(out, t, item.name), stored);
                auto gt = raw.labels.find(t);
                const cv::Mat* reference = gt != raw.labels.end() ? &gt->second : nullptr;
                cv::Mat picture = task.draw(task.decode_prediction(stored), info, reference);
                image::write_rgb(out / "pictures" / t / (item.name + ".png"), picture);
                top.emplace_back(t, picture);
                if (reference) {
                  bottom.emplace_back(t + " (truth)", task.draw(*reference, info));
                  has_gt = true;
                } else {
                  bottom.emplace_back(t + " (truth)", cv::Mat(original, CV_8UC3, cv::Scalar::all(255)));
                }
              }
              std::vector<report::Tile> tiles = top;
              if (has_gt) {
                tiles.emplace_back("", cv::Mat(original, CV_8UC3, cv::Scalar::all(255)));
                tiles.insert(tiles.end(), bottom.begin(), bottom.end());
              }
              image::write_rgb(out / "mosaics" / (item.name + ".png"), report::mosaic(tiles, static_cast<int>(top.size())));
              bar.advance();
            }
            bar.finish();
            std::cout << "wrote " << items.size() << " prediction(s) to " << out.string() << " (" << join(task_list, ", ")
                      << "; pictures/ and mosaics/ beside them)\n";
            return 0;
          }};
}

}  // namespace densemtl::cli

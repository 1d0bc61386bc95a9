// densemtl import: bring a model trained with the survey's Python code into a densemtl run folder.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/config.h"
#include "densemtl/core/json.h"
#include "densemtl/models/build.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/checkpoint.h"
#include "densemtl/train/run.h"

namespace densemtl::cli {

namespace {
struct Options {
  std::string config, checkpoint, out;
  std::vector<std::string> sets;
};
}  // namespace

Subcommand add_import(CLI::App& root) {
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "import", "Import a checkpoint of the survey's Python code (checkpoint.pth.tar / best_model.pth.tar) as a run folder");
  app->add_option("--config", o->config, "densemtl config of the same model (e.g. configs/pascal/resnet18/semseg.yaml)")->required();
  app->add_option("--checkpoint", o->checkpoint, "The Python checkpoint or state dict ('module.' prefixes are stripped)")->required();
  app->add_option("--out", o->out, "Run folder to create (then: densemtl evaluate --run / predict --run)")->required();
  app->add_option("--set", o->sets, "Override a config key");
  return {app, [o]() {
            Experiment x = Experiment::load(o->config, o->sets);
            data::DatasetInfo info = x.dataset_info();
            models::Architecture model = models::make_architecture(x.model_spec(info));
            models::LoadReport r = models::load_reference_weights(*model, o->checkpoint);
            fs::path out = o->out;
            fs::create_directories(out);
            x.config->save(out / "config.yaml");
            train::save_weights(*model, out / "best.pt");
            models::ParameterCount pc = models::count_parameters(*model);
            OrderedJson summary;
            summary["name"] = out.filename().string();
            summary["imported_from"] = o->checkpoint;
            summary["architecture"] = x.model.architecture;
            summary["backbone"] = x.model.backbone;
            summary["parameters"] = pc.to_json();
            write_json(out / "run.json", summary);
            std::cout << "imported " << o->checkpoint << " into " << out.string() << ": " << r.summary(20) << "\n";
            return 0;
          }};
}

}  // namespace densemtl::cli

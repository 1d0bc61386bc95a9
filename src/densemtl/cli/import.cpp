// densemtl import: bring a model trained with the survey's Python code into a densemtl run folder.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/config.h"
#include "densemtl/core/error.h"
#include "densemtl/core/file_lock.h"
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
  bool force = false;
};

// The run folder to import into: new or empty; one holding a run only with --force (its files are
// replaced), never one holding anything else; never one being trained. Returns the folder's lock.
FileLock claim_import_folder(const fs::path& out, bool force) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) fail("{}: is a file, not a run folder", out.string());
  std::vector<fs::path> run_files;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
    if (!train::is_run_entry(it->path()))
      fail("{}: holds {}, which is not part of a densemtl run; import into an empty or new folder (nothing was changed)",
           out.string(), it->path().filename().string());
    if (it->path().filename() != "train.lock") run_files.push_back(it->path());
  }
  if (!run_files.empty() && !force)
    fail("{}: already holds a run; pass --force to replace it with the imported model, or choose another --out", out.string());
  fs::create_directories(out);
  FileLock lock = FileLock::try_lock(out / "train.lock");
  if (!lock.held()) fail("{}: is being trained by {}; import elsewhere", out.string(), FileLock::holder(out / "train.lock"));
  for (const auto& f : run_files) fs::remove_all(f);  // --force: none of the old run stays beside the import
  return lock;
}

}  // namespace

Subcommand add_import(CLI::App& root) {
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "import", "Import a checkpoint of the survey's Python code (checkpoint.pth.tar / best_model.pth.tar) as a run folder");
  app->add_option("--config", o->config, "densemtl config of the same model (e.g. configs/pascal/resnet18/semseg.yaml)")->required();
  app->add_option("--checkpoint", o->checkpoint, "The Python checkpoint or state dict ('module.' prefixes are stripped)")->required();
  app->add_option("--out", o->out, "Run folder to create (then: densemtl evaluate --run / predict --run)")->required()->check(path_validator());
  app->add_option("--set", o->sets, "Override a config key");
  app->add_flag("--force", o->force, "Replace the run in --out (its every file) with the imported model");
  return {app, [o]() {
            Experiment x = Experiment::load(o->config, o->sets);
            data::DatasetInfo info = x.dataset_info();
            models::Architecture model = models::make_architecture(x.model_spec(info));
            // densemtl's own weights (another run's best.pt or checkpoint.pt) load as such.
            std::string loaded;
            if (train::is_weights_archive(o->checkpoint)) {
              train::load_weights(*model, o->checkpoint);
              loaded = "densemtl weights, every tensor";
            } else {
              loaded = models::load_reference_weights(*model, o->checkpoint).summary(20);
            }
            const fs::path out = o->out;
            const FileLock lock = claim_import_folder(out, o->force);
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
            std::cout << "imported " << o->checkpoint << " into " << out.string() << ": " << loaded << "\n";
            return 0;
          }};
}

}  // namespace densemtl::cli

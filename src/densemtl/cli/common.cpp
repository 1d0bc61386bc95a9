#include "densemtl/cli/common.h"

#include <cstdio>
#include <iostream>

#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/dataset.h"
#include "densemtl/vision/io/image.h"

namespace densemtl::cli {

CLI::Validator size_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        try {
          parse_size(value, "size");
        } catch (const Error&) {
          return "expected HxW with positive integers (e.g. 96x128), got '" + value + "'";
        }
        return "";
      },
      "HxW");
}

CLI::Validator path_validator() {
  return CLI::Validator([](std::string& value) -> std::string { return value.empty() ? "an empty path" : ""; }, "PATH");
}

CLI::Validator format_validator() {
  return CLI::IsMember({"nyud", "pascal", "mtan", "synthetic"});
}

std::string format_metrics(const OrderedJson& metrics) {
  std::string out;
  for (const auto& [task, values] : metrics.items()) {
    std::vector<std::string> parts;
    for (const auto& [key, v] : values.items()) {
      if (!v.is_number() || key == "images" || key == "pixels") continue;
      parts.push_back(fmt::format("{} {:.4g}", key, v.get<double>()));
    }
    out += fmt::format("  {:<12} {}\n", task, join(parts, "  "));
  }
  return out;
}

namespace {

std::string command_path(CLI::App* app) {
  std::string path = app->get_name();
  for (CLI::App* p = app->get_parent(); p; p = p->get_parent()) path = p->get_name() + " " + path;
  return path;
}

// "usage: densemtl generate --out OUT [--size SIZE] ..." built from the declared options.
std::string usage_line(CLI::App* app) {
  std::string line = "usage: " + command_path(app);
  for (const CLI::Option* opt : app->get_options()) {
    std::string name = opt->get_name(false, true);
    if (name.empty() || name == "-h,--help" || name == "--help" || name == "--version") continue;
    std::string flag = split(name, ',').back();
    std::string item = flag;
    if (opt->get_items_expected_max() != 0) {
      std::string meta = flag.substr(flag.find_first_not_of('-'));
      for (char& ch : meta) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      item += " " + meta;
    }
    line += " " + (opt->get_required() ? item : "[" + item + "]");
  }
  if (!app->get_subcommands({}).empty() && app->get_parent() == nullptr) line += " SUBCOMMAND";
  return line;
}

// CLI11 reports a missing required option before an unknown one; a misspelt flag is the more
// useful message, so name it first.
std::string explain(const CLI::ParseError& e, CLI::App* failed) {
  std::string what = e.what();
  if (dynamic_cast<const CLI::RequiredError*>(&e)) {
    for (const auto& extra : failed->remaining())
      if (starts_with(extra, "-")) what = "unknown option '" + extra + "'";
  }
  // launch's own options end where its command starts: the command goes after "--".
  if (failed->get_name() == "launch" && (dynamic_cast<const CLI::ExtrasError*>(&e) || dynamic_cast<const CLI::RequiredError*>(&e)))
    what += " (put the command after --: densemtl launch --nproc 2 -- train --config FILE)";
  return what;
}

}  // namespace

int run_main(int argc, char** argv) {
  CLI::App app{"densemtl: multi-task learning for dense prediction (semantic segmentation, depth, surface "
               "normals, boundaries, saliency, human parts)",
               "densemtl"};
  app.require_subcommand(1);
  app.fallthrough();  // -q and -v after the subcommand too
  app.set_version_flag("--version", "densemtl 0.1.0");
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors; no progress bars");
  std::vector<Subcommand> subs = {add_generate(app), add_info(app), add_train(app), add_evaluate(app),
                                  add_predict(app), add_report(app), add_import(app), add_branch(app),
                                  add_launch(app), add_benchmark(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    CLI::App* shown = &app;
    for (auto* s : app.get_subcommands()) shown = s;
    std::cout << shown->help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    CLI::App* failed = &app;
    for (auto* s : app.get_subcommands()) failed = s;
    std::string what = explain(e, failed);
    if (dynamic_cast<const CLI::RequiredError*>(&e) && failed == &app && app.get_subcommands().empty())
      what = "a subcommand is required (generate, info, ...)";
    if (failed == &app && app.get_subcommands().empty() && argc > 1) {
      // A misspelt subcommand: the first word that is not an option.
      std::vector<std::string> names;
      for (const auto* sub : app.get_subcommands({})) names.push_back(sub->get_name());
      for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (starts_with(word, "-")) continue;
        const std::string hint = closest(word, names);
        what = "unknown subcommand '" + word + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; subcommands: " +
               join(names, ", ");
        break;
      }
    }
    std::fprintf(stderr, "%s: error: %s\n%s\nRun '%s --help' for more.\n", command_path(failed).c_str(), what.c_str(),
                 usage_line(failed).c_str(), command_path(failed).c_str());
    return 2;
  }

  setup_logging(verbose, quiet);
  if (quiet) ProgressBar::set_enabled(false);
  image::quiet_opencv();
  for (auto& s : subs) {
    if (!s.app->parsed()) continue;
    try {
      return s.run();
    } catch (const UsageError& e) {
      std::fprintf(stderr, "%s: error: %s\n%s\nRun '%s --help' for more.\n", command_path(s.app).c_str(), e.what(),
                   usage_line(s.app).c_str(), command_path(s.app).c_str());
      return 2;
    } catch (const Error& e) {
      std::fprintf(stderr, "%s: error: %s\n", command_path(s.app).c_str(), e.what());
      return 1;
    } catch (const fs::filesystem_error& e) {
      // "filesystem error: cannot create directories: Not a directory [p]" as "p: cannot create
      // directories: Not a directory".
      const std::string what = e.what(), prefix = "filesystem error: ";
      std::string operation;
      if (what.rfind(prefix, 0) == 0) {
        const std::string rest = what.substr(prefix.size());
        if (auto colon = rest.find(": "); colon != std::string::npos) operation = rest.substr(0, colon) + ": ";
      }
      std::fprintf(stderr, "%s: error: %s: %s%s\n", command_path(s.app).c_str(), e.path1().string().c_str(), operation.c_str(),
                   e.code().message().c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: internal error: %s\n", command_path(s.app).c_str(), e.what());
      return 1;
    }
  }
  return 2;
}

}  // namespace densemtl::cli

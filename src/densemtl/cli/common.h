// Shared pieces of the `densemtl` subcommands. Each subcommand lives in its own file and adds
// itself to the root CLI11 app with add_<name>().
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "densemtl/core/json.h"

namespace densemtl::cli {

struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Subcommand add_generate(CLI::App& root);
Subcommand add_info(CLI::App& root);
Subcommand add_train(CLI::App& root);
Subcommand add_evaluate(CLI::App& root);
Subcommand add_predict(CLI::App& root);
Subcommand add_report(CLI::App& root);
Subcommand add_import(CLI::App& root);
Subcommand add_branch(CLI::App& root);
Subcommand add_launch(CLI::App& root);
Subcommand add_benchmark(CLI::App& root);

// Validator for HxW size flags ("96x128").
CLI::Validator size_validator();
// A path that is not empty (--out '' would otherwise fail only after all the work).
CLI::Validator path_validator();
// Validator for --format.
CLI::Validator format_validator();

// A metrics object ({task: {metric: value}}) as an aligned table (per-class values left out).
std::string format_metrics(const OrderedJson& metrics);

// Runs the whole command line; returns the exit status (0 ok, 1 error, 2 usage error).
int run_main(int argc, char** argv);

}  // namespace densemtl::cli

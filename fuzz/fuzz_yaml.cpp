// libFuzzer target: YAML configs validated against a schema with every kind of key.
#include "densemtl/core/config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace densemtl;
  using namespace densemtl::config;
  static const Spec schema = section("", "", {
      section("train", "", {integer("epochs", 2, 1, 1000, ""), real("lr", 0.01, 0, 10, ""), boolean("amp", false, ""),
                            choice("optimizer", "sgd", {"sgd", "adam"}, "")}),
      section("data", "", {text("dataset", "synthetic", ""), path("root", "data", ""),
                           int_list("size", {96, 128}, 1, 4096, 2, 2, "")}),
      section("tasks", "", {float_list("weights", {1.0}, 0, 100, 1, 8, "")}),
  });
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] { Config::parse(schema, text, "fuzz.yaml").dump(); });
  return 0;
}

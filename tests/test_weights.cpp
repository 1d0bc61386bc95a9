// torch
// Weight files: torch.save state dicts (zip, legacy, reference checkpoints) read natively, bad
// files named, ImageNet-style backbone weights loaded by torchvision names, other models refused.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>

#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/models/torch_file.h"
#include "densemtl/train/experiment.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::models {

using test::kNyud;
using test::kPascal;
using test::spec;
using test::with_aux;
using test::as_map;
using test::state_dict_file;

TEST(TorchFile, OrderedDictZipLegacyAndReferenceCheckpointAllLoad) {
  auto expected = torch::pickle_load([] {
    std::string b = read_file(state_dict_file("tiny_state_dict_expected.pt"));
    return std::vector<char>(b.begin(), b.end());
  }()).toGenericDict();
  ASSERT_GT(expected.size(), 0u);
  for (const char* f : {"tiny_state_dict.pt", "tiny_state_dict_legacy.pt", "tiny_reference_checkpoint.pth.tar"}) {
    auto got = as_map(torchfile::load_state_dict(state_dict_file(f)));
    EXPECT_EQ(got.size(), expected.size()) << f;
    for (const auto& item : expected) {
      std::string key = item.key().toStringRef();
      ASSERT_TRUE(got.count(key)) << f << " lacks " << key;
      EXPECT_TRUE(torch::equal(got.at(key), item.value().toTensor())) << f << ": " << key;
    }
  }
  // The checkpoint's other entries are readable too.
  auto root = torchfile::load(state_dict_file("tiny_reference_checkpoint.pth.tar"));
  ASSERT_NE(root->find("epoch"), nullptr);
  EXPECT_EQ((*root->find("epoch"))->kind, torchfile::Value::Kind::Int);
}

TEST(TorchFile, BadFilesAreNamed) {
  test::TempDir dir;
  std::ofstream(dir.path() / "junk.pth") << "definitely not a checkpoint";
  test::expect_error([&] { torchfile::load_state_dict(dir.path() / "junk.pth"); }, {"junk.pth", "not a torch.save file"});
  test::expect_error([&] { torchfile::load_state_dict(dir.path() / "none.pth"); }, {"none.pth", "not found"});
  // Found by fuzzing: a zip archive whose storage record is corrupt (LibTorch's zip reader throws).
  const fs::path corrupt = fs::path(DENSEMTL_TEST_DATA) / "fuzz" / "torch_zip_corrupt_record.pt";
  test::expect_error([&] { torchfile::load_state_dict(corrupt); }, {"torch_zip_corrupt_record.pt", "malformed torch.save file"});
  // A legacy file whose pickle puts a container inside itself (leaked before, and recursion over
  // it never ended).
  const fs::path cycle = fs::path(DENSEMTL_TEST_DATA) / "fuzz" / "torch_legacy_cycle.pt";
  test::expect_error([&] { torchfile::load_state_dict(cycle); }, {"torch_legacy_cycle.pt", "contains itself"});
  // Nesting deeper than any torch.save file: an error, not a stack overflow.
  // The legacy format's header pickles (magic number, protocol version, system info), then the data.
  std::string deep = std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) + "\x80\x02M\xe9\x03." +
                     "\x80\x02}." + "\x80\x02";
  for (int i = 0; i < 100000; ++i) deep += "]";  // EMPTY_LIST
  for (int i = 0; i < 99999; ++i) deep += "a";   // APPEND: each list into the one below it
  deep += ".";
  std::ofstream(dir.path() / "deep.pt", std::ios::binary) << deep;
  test::expect_error([&] { torchfile::load(dir.path() / "deep.pt"); }, {"deep.pt", "nested deeper than"});
}

TEST(Weights, ImageNetStyleBackboneWeightsLoadByTorchvisionNames) {
  test::TempDir dir;
  // A torchvision-style ResNet-18 state dict: backbone names without a prefix, plus the
  // classification head (fc.*) that densemtl ignores.
  Architecture source = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal, 0.25));
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& p : source->named_parameters())
    if (p.key().rfind("backbone.", 0) == 0) sd.insert(p.key().substr(9), p.value().detach().clone());
  for (const auto& b : source->named_buffers())
    if (b.key().rfind("backbone.", 0) == 0) sd.insert(b.key().substr(9), b.value().clone());
  sd.insert("fc.weight", torch::randn({1000, 128}));
  sd.insert("fc.bias", torch::randn({1000}));
  std::vector<char> bytes = torch::pickle_save(sd);
  std::ofstream(dir.path() / "resnet18.pth", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Architecture target = make_architecture(spec("baseline", "resnet18", {"semseg", "depth"}, kNyud, 0.25));
  load_backbone_weights(*target, dir.path() / "resnet18.pth");
  auto want = source->named_parameters();
  std::size_t compared = 0;
  for (const auto& p : target->named_parameters()) {
    if (p.key().rfind("backbone.", 0) != 0) continue;
    EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
    ++compared;
  }
  EXPECT_GT(compared, 40u);
}

TEST(Weights, ACheckpointOfAnotherModelIsRefusedWithNames) {
  test::TempDir dir;
  // A state dict of a full-width model, in the zip container torch.save writes.
  Architecture full = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& p : full->named_parameters()) sd.insert("module." + p.key(), p.value().detach());
  std::vector<char> bytes = torch::pickle_save(sd);
  std::ofstream(dir.path() / "full.pth", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  // It loads into its own architecture (the "module." prefix of DataParallel is stripped) ...
  Architecture same = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  EXPECT_THROW(load_reference_weights(*same, dir.path() / "full.pth"), Error);  // buffers are missing
  LoadReport r = load_tensors(*same, torchfile::load_state_dict(dir.path() / "full.pth"));
  EXPECT_TRUE(r.mismatched.empty() && r.unexpected.empty()) << r.summary();
  EXPECT_EQ(r.loaded, same->parameters().size());
  // ... but not into a quarter-width model or one with another head.
  Architecture small = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal, 0.25));
  test::expect_error([&] { load_reference_weights(*small, dir.path() / "full.pth"); }, {"full.pth", "does not fit", "shape mismatch"});
  Architecture depth = make_architecture(spec("single_task", "resnet18", {"depth"}, kNyud));
  test::expect_error([&] { load_reference_weights(*depth, dir.path() / "full.pth"); }, {"decoder.4.weight: file [21, 256, 1, 1] vs model [1, 256, 1, 1]"});
  Architecture other = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  test::expect_error([&] { load_backbone_weights(*other, state_dict_file("tiny_state_dict.pt")); },
                     {"tiny_state_dict.pt", "backbone.weights do not fit"});
}

}  // namespace densemtl::models

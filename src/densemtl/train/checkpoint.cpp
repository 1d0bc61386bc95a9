#include "densemtl/train/checkpoint.h"

#include <sstream>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::train {

namespace {

std::string shape_text(c10::IntArrayRef sizes) {
  std::vector<std::string> d;
  for (auto s : sizes) d.push_back(std::to_string(s));
  return "[" + join(d, ", ") + "]";
}

std::string first_line(const c10::Error& e) { return trim(split(e.what_without_backtrace(), '\n').front()); }

// Why LibTorch could not open `file` as an archive, in a user's words: empty (an interrupted
// write), not a zip archive, or a damaged one (truncated: its end, the zip's directory, is
// missing).
std::string unreadable(const fs::path& file, const c10::Error& e) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (!ec && size == 0) return "is empty (0 bytes; was its writing interrupted?)";
  const std::string what = first_line(e);
  if (what.find("central directory") != std::string::npos || what.find("failed reading zip archive") != std::string::npos)
    return fmt::format("is truncated or damaged ({} bytes; its zip archive has no directory)", size);
  return "cannot be read (" + what + ")";
}

}  // namespace

Json LoopState::to_json() const {
  return Json{{"epoch", epoch}, {"best_score", best_score}, {"best_epoch", best_epoch}, {"train_seconds", train_seconds},
              {"step", step}, {"reference", Json::parse(reference.dump())}, {"best_val", Json::parse(best_val.dump())}};
}

LoopState LoopState::from_json(const Json& j) {
  LoopState s;
  s.epoch = j.at("epoch").get<int>();
  s.best_score = j.at("best_score").get<double>();
  s.best_epoch = j.at("best_epoch").get<int>();
  s.train_seconds = j.at("train_seconds").get<double>();
  s.step = j.at("step").get<std::int64_t>();
  s.reference = OrderedJson::parse(j.at("reference").dump());
  s.best_val = OrderedJson::parse(j.at("best_val").dump());
  return s;
}

void save_checkpoint(const fs::path& file, models::ArchitectureImpl& model, torch::optim::Optimizer& optimizer,
                     const balancing::Balancer& balancer, const LoopState& state) {
  // Serialised in memory first: LibTorch's file writer throws from a destructor (aborting the
  // process) when the disk fills; densemtl's writer reports it and leaves the old file intact.
  std::ostringstream bytes;
  {
    torch::serialize::OutputArchive a, o, b;
    write_model(a, model);
    optimizer.save(o);
    balancer.save(b);
    a.write("optimizer", o);
    a.write("balancer", b);
    a.write("state", c10::IValue(state.to_json().dump()));
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      a.write("torch_rng", gen.get_state());
    }
    a.save_to(bytes);
  }
  write_file_atomic(file, bytes.str(), /*durable=*/true);
}

LoopState load_checkpoint(const fs::path& file, models::ArchitectureImpl& model, torch::optim::Optimizer& optimizer,
                          balancing::Balancer& balancer) {
  torch::serialize::InputArchive a, o, b;
  try {
    a.load_from(file.string());
  } catch (const c10::Error& e) {
    fail("{}: not a densemtl checkpoint: the file {}", file.string(), unreadable(file, e));
  }
  read_model(a, model, file.string() + ": cannot resume, the checkpoint");
  try {
    a.read("optimizer", o);
    optimizer.load(o);
    a.read("balancer", b);
    balancer.load(b, file.string() + ": cannot resume, the checkpoint");
    c10::IValue state;
    a.read("state", state);
    torch::Tensor rng;
    a.read("torch_rng", rng);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    return LoopState::from_json(Json::parse(state.toStringRef()));
  } catch (const c10::Error& e) {
    fail("{}: cannot resume from this checkpoint; it does not fit the configured model ({})", file.string(), first_line(e));
  }
}

void write_model(torch::serialize::OutputArchive& archive, torch::nn::Module& model, const std::string& prefix) {
  for (const auto& p : model.named_parameters()) archive.write(prefix + p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers()) archive.write(prefix + b.key(), b.value().cpu(), /*is_buffer=*/true);
}

void read_model(torch::serialize::InputArchive& archive, torch::nn::Module& model, const std::string& where,
                const std::string& prefix) {
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor value;
    if (!archive.try_read(prefix + name, value)) fail("{}: does not fit this model (it has no '{}')", where, name);
    if (value.sizes() != target.sizes())
      fail("{}: does not fit this model ('{}' is {} in the file, {} in the model)", where, name, shape_text(value.sizes()),
           shape_text(target.sizes()));
    target.copy_(value);
  };
  for (auto& p : model.named_parameters()) load(p.key(), p.value());
  for (auto& b : model.named_buffers()) load(b.key(), b.value());
}

void save_weights(models::ArchitectureImpl& model, const fs::path& file) {
  std::ostringstream bytes;
  torch::serialize::OutputArchive a;
  write_model(a, model);
  a.save_to(bytes);
  write_file_atomic(file, bytes.str(), /*durable=*/true);
}

void load_weights(models::ArchitectureImpl& model, const fs::path& file) {
  require_file(file, "weights file");
  torch::serialize::InputArchive a;
  try {
    a.load_from(file.string());
  } catch (const c10::Error& e) {
    fail("{}: not a densemtl weights file: the file {}", file.string(), unreadable(file, e));
  }
  read_model(a, model, file.string());
}

bool is_weights_archive(const fs::path& file) {
  torch::serialize::InputArchive a;
  try {
    a.load_from(file.string());
  } catch (const c10::Error&) {
    return false;
  }
  return true;
}

}  // namespace densemtl::train

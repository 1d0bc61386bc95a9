#include "densemtl/models/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::torchfile {

const ValuePtr* Value::find(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k && k->kind == Kind::String && k->text == key) return &v;
  return nullptr;
}

std::string Value::describe() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return boolean ? "True" : "False";
    case Kind::Int: return std::to_string(integer);
    case Kind::Float: return fmt::format("{}", number);
    case Kind::String: return "'" + text + "'";
    case Kind::Bytes: return fmt::format("bytes[{}]", text.size());
    case Kind::List: return fmt::format("list[{}]", items.size());
    case Kind::Tuple: return fmt::format("tuple[{}]", items.size());
    case Kind::Dict: return fmt::format("dict[{}]", entries.size());
    case Kind::Tensor: return "tensor";
    case Kind::Global: return text;
    case Kind::Object: return "object " + (callable ? callable->text : std::string("?"));
  }
  return "?";
}

namespace {

ValuePtr make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

at::ScalarType storage_dtype(const std::string& name, const std::string& where) {
  static const std::map<std::string, at::ScalarType> types = {
      {"FloatStorage", at::kFloat},   {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},   {"CharStorage", at::kChar},     {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool}};
  std::string last = split(name, '.').back();
  auto it = types.find(last);
  if (it == types.end()) fail("{}: unsupported tensor storage type '{}'", where, name);
  return it->second;
}

// Fetches the bytes of a storage, given its key, dtype and element count.
using StorageSource = std::function<at::Tensor(const std::string& key, at::ScalarType dtype, std::int64_t numel)>;

class Unpickler {
 public:
  Unpickler(const char* data, std::size_t size, std::string where, StorageSource storages)
      : p_(data), end_(data + size), where_(std::move(where)), storages_(std::move(storages)) {}

  // The next pickle's value. Its object graph is checked: torch.save never writes a cycle (a
  // container holding itself) nor deep nesting, and either would make the shared pointers leak or
  // recursion overflow the stack; both are errors here, and nothing built is kept on failure.
  ValuePtr load();
  std::size_t consumed(const char* start) const { return static_cast<std::size_t>(p_ - start); }

 private:
  static constexpr std::size_t kMaxDepth = 256;
  ValuePtr run();
  // The opcode families run() dispatches to; each returns whether `op` is one of its own.
  bool push_scalar(std::uint8_t op);
  bool build_container(std::uint8_t op);
  bool use_memo(std::uint8_t op);
  bool build_object(std::uint8_t op);
  // Every value reachable from `root`, the stack and the memo (each once).
  std::vector<ValuePtr> reachable(const ValuePtr& root) const;
  void check_graph(const ValuePtr& root) const;
  // Drops every container's references (breaking any cycle) so that everything built is freed.
  void release(const ValuePtr& root);
  [[noreturn]] void bad(const std::string& what) const { fail("{}: cannot read pickle data ({})", where_, what); }
  std::uint8_t byte() {
    if (p_ >= end_) bad("unexpected end of data");
    return static_cast<std::uint8_t>(*p_++);
  }
  std::string bytes(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) bad("unexpected end of data");
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  template <typename T>
  T little() {
    T v;
    std::string b = bytes(sizeof(T));
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }
  std::string line() {
    std::string s;
    while (true) {
      char c = static_cast<char>(byte());
      if (c == '\n') return s;
      s += c;
    }
  }
  ValuePtr pop() {
    if (stack_.empty()) bad("stack underflow");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) bad("no mark");
    std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  ValuePtr& top() {
    if (stack_.empty()) bad("stack underflow");
    return stack_.back();
  }
  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args);
  ValuePtr persistent(const ValuePtr& pid);

  const char* p_;
  const char* end_;
  std::string where_;
  StorageSource storages_;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::map<std::uint64_t, ValuePtr> memo_;
  std::map<std::string, at::Tensor> storage_cache_;
};

ValuePtr Unpickler::persistent(const ValuePtr& pid) {
  // ('storage', storage_type, key, location, numel[, view_metadata])
  if (pid->kind != Value::Kind::Tuple || pid->items.size() < 5) bad("unexpected persistent id");
  const auto& it = pid->items;
  std::string tag = it[0]->text;
  if (tag != "storage") bad("unsupported persistent id '" + tag + "'");
  std::string type = it[1]->kind == Value::Kind::Global ? it[1]->text : "";
  std::string key = it[2]->text;
  std::int64_t numel = it[4]->integer;
  at::ScalarType dtype = storage_dtype(type, where_);
  auto cached = storage_cache_.find(key);
  at::Tensor storage;
  if (cached != storage_cache_.end()) storage = cached->second;
  else storage = storage_cache_[key] = storages_(key, dtype, numel);
  if (it.size() > 5 && it[5]->kind == Value::Kind::Tuple) {
    // Legacy view: (view_key, offset, view_size) into the root storage.
    const auto& view = it[5]->items;
    storage = storage.narrow(0, view[1]->integer, view[2]->integer);
  }
  ValuePtr v = make(Value::Kind::Tensor);
  v->tensor = storage;
  return v;
}

ValuePtr Unpickler::reduce(const ValuePtr& callable, const ValuePtr& args) {
  const std::string name = callable->kind == Value::Kind::Global ? callable->text : "";
  auto arg = [&](std::size_t i) -> const ValuePtr& {
    if (args->kind != Value::Kind::Tuple || i >= args->items.size()) bad("bad arguments to " + name);
    return args->items[i];
  };
  auto ints = [&](const ValuePtr& t) {
    std::vector<std::int64_t> out;
    for (const auto& x : t->items) out.push_back(x->integer);
    return out;
  };
  if (name == "collections.OrderedDict") return make(Value::Kind::Dict);
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    const ValuePtr& storage = arg(0);
    if (storage->kind != Value::Kind::Tensor) bad("tensor without storage");
    std::int64_t offset = arg(1)->integer;
    auto size = ints(arg(2)), stride = ints(arg(3));
    ValuePtr v = make(Value::Kind::Tensor);
    v->tensor = storage->tensor.as_strided(size, stride, offset).clone();
    return v;
  }
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    return arg(0);
  }
  // LibTorch's own torch::pickle_save tags containers with their TorchScript type.
  if (name == "torch.jit._pickle.restore_type_tag" || starts_with(name, "torch.jit._pickle.build_")) return arg(0);
  ValuePtr obj = make(Value::Kind::Object);
  obj->callable = callable;
  obj->items = args->items;
  return obj;
}

namespace {
// The values a value refers to.
template <class F>
void for_each_child(const Value& v, F&& f) {
  for (const auto& x : v.items) f(x);
  for (const auto& [k, x] : v.entries) {
    f(k);
    f(x);
  }
  if (v.callable) f(v.callable);
}
}  // namespace

ValuePtr Unpickler::load() {
  ValuePtr v;
  try {
    v = run();
    check_graph(v);
  } catch (...) {
    release(v);
    throw;
  }
  stack_.clear();
  memo_.clear();
  return v;
}

std::vector<ValuePtr> Unpickler::reachable(const ValuePtr& root) const {
  std::vector<ValuePtr> out, todo;
  std::set<const Value*> seen;
  auto visit = [&](const ValuePtr& v) {
    if (v && seen.insert(v.get()).second) todo.push_back(v);
  };
  visit(root);
  for (const auto& v : stack_) visit(v);
  for (const auto& [k, v] : memo_) visit(v);
  while (!todo.empty()) {
    ValuePtr v = todo.back();
    todo.pop_back();
    out.push_back(v);
    for_each_child(*v, visit);
  }
  return out;
}

void Unpickler::check_graph(const ValuePtr& root) const {
  // Depth-first, without recursion: 1 = on the current path, 2 = done.
  std::map<const Value*, int> state;
  for (const ValuePtr& from : reachable(root)) {
    const Value* start = from.get();
    if (state.count(start)) continue;
    std::vector<std::pair<const Value*, std::vector<const Value*>>> path;
    auto enter = [&](const Value* v) {
      state[v] = 1;
      std::vector<const Value*> children;
      for_each_child(*v, [&](const ValuePtr& c) { children.push_back(c.get()); });
      path.emplace_back(v, std::move(children));
      if (path.size() > kMaxDepth) bad(fmt::format("containers nested deeper than {}", kMaxDepth));
    };
    enter(start);
    while (!path.empty()) {
      auto& [v, children] = path.back();
      if (children.empty()) {
        state[v] = 2;
        path.pop_back();
        continue;
      }
      const Value* c = children.back();
      children.pop_back();
      auto it = state.find(c);
      if (it == state.end()) enter(c);
      else if (it->second == 1) bad("a container that contains itself");
    }
  }
}

void Unpickler::release(const ValuePtr& root) {
  std::vector<ValuePtr> all = reachable(root);  // held until every reference is dropped
  for (const ValuePtr& v : all) {
    v->items.clear();
    v->entries.clear();
    v->callable.reset();
  }
  stack_.clear();
  memo_.clear();
}

ValuePtr Unpickler::run() {
  while (true) {
    const std::uint8_t op = byte();
    switch (op) {
      case 0x80: byte(); continue;                         // PROTO
      case 0x95: little<std::uint64_t>(); continue;        // FRAME
      case '(': marks_.push_back(stack_.size()); continue;  // MARK
      case '.': return pop();                              // STOP
      case '0': pop(); continue;                           // POP
      case '1': pop_mark(); continue;                      // POP_MARK
      case '2': stack_.push_back(top()); continue;         // DUP
      default: break;
    }
    if (!push_scalar(op) && !build_container(op) && !use_memo(op) && !build_object(op))
      bad(fmt::format("unsupported pickle opcode 0x{:02x}", op));
  }
}

// None, booleans, integers, floats, strings and bytes.
bool Unpickler::push_scalar(std::uint8_t op) {
  ValuePtr v;
  switch (op) {
    case 'N': v = make(Value::Kind::None); break;
    case 0x88: case 0x89:                                  // NEWTRUE, NEWFALSE
      v = make(Value::Kind::Bool);
      v->boolean = op == 0x88;
      break;
    case 'J': case 'K': case 'M':                          // BININT, BININT1, BININT2
      v = make(Value::Kind::Int);
      v->integer = op == 'J' ? little<std::int32_t>() : op == 'K' ? byte() : little<std::uint16_t>();
      break;
    case 0x8a: case 0x8b: {                                // LONG1, LONG4
      std::size_t n = op == 0x8a ? byte() : little<std::uint32_t>();
      std::string b = bytes(n);
      std::int64_t x = 0;
      for (std::size_t i = 0; i < n && i < 8; ++i) x |= static_cast<std::int64_t>(static_cast<std::uint8_t>(b[i])) << (8 * i);
      if (n > 0 && n < 8 && (static_cast<std::uint8_t>(b[n - 1]) & 0x80)) x -= static_cast<std::int64_t>(1) << (8 * n);
      v = make(Value::Kind::Int);
      v->integer = x;
      v->text = b;  // raw little-endian bytes (integers wider than 64 bits keep only these)
      break;
    }
    case 'I': {                                            // INT (text)
      std::string s = line();
      if (s == "00" || s == "01") {
        v = make(Value::Kind::Bool);
        v->boolean = s == "01";
      } else {
        v = make(Value::Kind::Int);
        v->integer = std::stoll(s);
      }
      break;
    }
    case 'G': {                                            // BINFLOAT (big-endian double)
      std::string b = bytes(8);
      std::uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
      v = make(Value::Kind::Float);
      std::memcpy(&v->number, &bits, 8);
      break;
    }
    case 'X': case 0x8c: case 0x8d: case 'T': case 'U': case 'B': case 'C': case 0x8e: {
      std::size_t n = op == 'X' || op == 'T' || op == 'B' ? little<std::uint32_t>()
                      : op == 0x8d || op == 0x8e        ? static_cast<std::size_t>(little<std::uint64_t>())
                                                        : byte();
      v = make(op == 'B' || op == 'C' || op == 0x8e ? Value::Kind::Bytes : Value::Kind::String);
      v->text = bytes(n);
      break;
    }
    default: return false;
  }
  stack_.push_back(v);
  return true;
}

// Lists, tuples, dicts and sets (as lists), and what fills them.
bool Unpickler::build_container(std::uint8_t op) {
  switch (op) {
    case ']': stack_.push_back(make(Value::Kind::List)); return true;
    case ')': stack_.push_back(make(Value::Kind::Tuple)); return true;
    case '}': stack_.push_back(make(Value::Kind::Dict)); return true;
    case 0x8f: stack_.push_back(make(Value::Kind::List)); return true;  // EMPTY_SET (as a list)
    case 'l': case 't': case 0x91: {                                     // LIST, TUPLE, FROZENSET
      ValuePtr v = make(op == 't' ? Value::Kind::Tuple : Value::Kind::List);
      v->items = pop_mark();
      stack_.push_back(v);
      return true;
    }
    case 0x85: case 0x86: case 0x87: {                                  // TUPLE1..3
      std::size_t n = op - 0x84u;
      ValuePtr v = make(Value::Kind::Tuple);
      if (stack_.size() < n) bad("stack underflow");
      v->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
      stack_.resize(stack_.size() - n);
      stack_.push_back(v);
      return true;
    }
    case 'd': {                                                          // DICT
      auto items = pop_mark();
      ValuePtr v = make(Value::Kind::Dict);
      for (std::size_t i = 0; i + 1 < items.size(); i += 2) v->entries.emplace_back(items[i], items[i + 1]);
      stack_.push_back(v);
      return true;
    }
    case 'a': {                                                          // APPEND
      ValuePtr x = pop();
      top()->items.push_back(x);
      return true;
    }
    case 'e': case 0x90: {                                               // APPENDS, ADDITEMS
      auto items = pop_mark();
      auto& list = top()->items;
      list.insert(list.end(), items.begin(), items.end());
      return true;
    }
    case 's': {                                                          // SETITEM
      ValuePtr value = pop(), key = pop();
      top()->entries.emplace_back(key, value);
      return true;
    }
    case 'u': {                                                          // SETITEMS
      auto items = pop_mark();
      for (std::size_t i = 0; i + 1 < items.size(); i += 2) top()->entries.emplace_back(items[i], items[i + 1]);
      return true;
    }
    default: return false;
  }
}

bool Unpickler::use_memo(std::uint8_t op) {
  switch (op) {
    case 'q': memo_[byte()] = top(); return true;                   // BINPUT
    case 'r': memo_[little<std::uint32_t>()] = top(); return true;  // LONG_BINPUT
    case 0x94: memo_[memo_.size()] = top(); return true;            // MEMOIZE
    case 'p': memo_[std::stoull(line())] = top(); return true;      // PUT
    case 'h': case 'j': case 'g': {                                 // BINGET, LONG_BINGET, GET
      std::uint64_t k = op == 'h' ? byte() : op == 'j' ? little<std::uint32_t>() : std::stoull(line());
      auto it = memo_.find(k);
      if (it == memo_.end()) bad("memo key missing");
      stack_.push_back(it->second);
      return true;
    }
    default: return false;
  }
}

// Globals, the calls that build objects from them, and tensors' persistent ids.
bool Unpickler::build_object(std::uint8_t op) {
  switch (op) {
    case 'c': case 0x93: {                                          // GLOBAL, STACK_GLOBAL
      ValuePtr v = make(Value::Kind::Global);
      if (op == 'c') {
        std::string module = line(), name = line();
        v->text = module + "." + name;
      } else {
        ValuePtr name = pop(), module = pop();
        v->text = module->text + "." + name->text;
      }
      stack_.push_back(v);
      return true;
    }
    case 'R': case 0x81: {                                          // REDUCE, NEWOBJ
      ValuePtr args = pop(), callable = pop();
      stack_.push_back(reduce(callable, args));
      return true;
    }
    case 'b': pop(); return true;                                   // BUILD: set state; ignored
    case 'Q': {                                                     // BINPERSID
      ValuePtr pid = pop();
      stack_.push_back(persistent(pid));
      return true;
    }
    default: return false;
  }
}

bool is_zip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  return magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

// Fails unless `numel` elements of `dtype` fit in `available` bytes (negative and overflowing
// counts included).
void check_count(std::int64_t numel, at::ScalarType dtype, std::size_t available, const std::string& where, const std::string& what) {
  if (numel < 0) fail("{}: {} has a negative element count ({})", where, what, numel);
  if (static_cast<std::uint64_t>(numel) > available / c10::elementSize(dtype))
    fail("{}: {} is truncated ({} elements of {} bytes, {} bytes there)", where, what, numel, c10::elementSize(dtype), available);
}

at::Tensor raw_tensor(const char* data, at::ScalarType dtype, std::int64_t numel) {
  at::Tensor t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
  if (numel > 0) std::memcpy(t.data_ptr(), data, static_cast<std::size_t>(numel) * t.element_size());  // empty: no data pointer
  return t;
}

ValuePtr load_zip(const fs::path& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path.string());
  } catch (const std::exception& e) {
    fail("{}: not a readable torch.save zip archive ({})", path.string(), split(e.what(), '\n').front());
  }
  if (!reader->hasRecord("data.pkl")) fail("{}: zip archive without data.pkl (not a torch.save file)", path.string());
  auto [pkl, size] = reader->getRecord("data.pkl");
  StorageSource source = [&](const std::string& key, at::ScalarType dtype, std::int64_t numel) {
    std::string name = "data/" + key;
    if (!reader->hasRecord(name)) fail("{}: storage {} missing from the archive", path.string(), name);
    auto [ptr, bytes] = reader->getRecord(name);
    check_count(numel, dtype, bytes, path.string(), "storage " + name);
    return raw_tensor(static_cast<const char*>(ptr.get()), dtype, numel);
  };
  Unpickler u(static_cast<const char*>(pkl.get()), size, path.string(), source);
  return u.load();
}

ValuePtr load_legacy(const fs::path& path) {
  std::string bytes = read_file(path);
  const char* base = bytes.data();
  std::size_t pos = 0;
  auto next_pickle = [&](StorageSource src) {
    Unpickler u(base + pos, bytes.size() - pos, path.string(), std::move(src));
    ValuePtr v = u.load();
    pos += u.consumed(base + pos);
    return v;
  };
  StorageSource none = [&](const std::string&, at::ScalarType, std::int64_t) -> at::Tensor {
    fail("{}: unexpected tensor in the file header", path.string());
  };
  // The legacy format starts with the pickled magic number 0x1950a86a20f9469cfc6c.
  static const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
  ValuePtr magic;
  try {
    magic = next_pickle(none);
  } catch (const Error&) {
    magic = nullptr;
  }
  if (!magic || magic->kind != Value::Kind::Int || magic->text != kMagic)
    fail("{}: not a torch.save file (neither a zip archive nor the legacy format)", path.string());
  next_pickle(none);  // protocol version
  next_pickle(none);  // system info
  // Storages are created on demand; their bytes follow the key list after the main pickle.
  struct Pending {
    at::ScalarType dtype;
    std::int64_t numel;
    at::Tensor tensor;
  };
  std::map<std::string, Pending> pending;
  StorageSource deferred = [&](const std::string& key, at::ScalarType dtype, std::int64_t numel) {
    check_count(numel, dtype, bytes.size(), path.string(), "storage " + key);  // no storage is larger than the file
    at::Tensor t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    pending[key] = {dtype, numel, t};
    return t;
  };
  // Tensors are views cloned at rebuild time, so collect the raw data first: parse twice.
  std::size_t main_start = pos;
  ValuePtr probe = next_pickle(deferred);
  ValuePtr keys = next_pickle(none);
  if (keys->kind != Value::Kind::List) fail("{}: legacy format without a storage key list", path.string());
  std::map<std::string, at::Tensor> data;
  for (const auto& k : keys->items) {
    if (pos + 8 > bytes.size()) fail("{}: truncated storage data", path.string());
    std::int64_t numel;
    std::memcpy(&numel, base + pos, 8);
    pos += 8;
    auto it = pending.find(k->text);
    if (it == pending.end()) fail("{}: storage key {} not used by the data", path.string(), k->text);
    check_count(numel, it->second.dtype, bytes.size() - pos, path.string(), "storage " + k->text);
    std::size_t n = static_cast<std::size_t>(numel) * c10::elementSize(it->second.dtype);
    data[k->text] = raw_tensor(base + pos, it->second.dtype, numel);
    pos += n;
  }
  pos = main_start;
  StorageSource filled = [&](const std::string& key, at::ScalarType, std::int64_t) {
    auto it = data.find(key);
    if (it == data.end()) fail("{}: storage {} has no data", path.string(), key);
    return it->second;
  };
  return next_pickle(filled);
}

void collect(const ValuePtr& v, const std::string& prefix, std::vector<std::pair<std::string, at::Tensor>>& out) {
  if (v->kind == Value::Kind::Tensor) {
    out.emplace_back(prefix, v->tensor);
  } else if (v->kind == Value::Kind::Dict) {
    for (const auto& [k, x] : v->entries) {
      std::string key = k->kind == Value::Kind::String ? k->text : k->kind == Value::Kind::Int ? std::to_string(k->integer) : "";
      if (key.empty()) continue;
      collect(x, prefix.empty() ? key : prefix + "." + key, out);
    }
  }
}

}  // namespace

ValuePtr load(const fs::path& path) {
  require_file(path, "weights file");
  try {
    return is_zip(path) ? load_zip(path) : load_legacy(path);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // LibTorch's checks (a corrupt zip record, tensor sizes or strides beyond their storage) and
    // allocation failures: the file is malformed.
    fail("{}: malformed torch.save file ({})", path.string(), split(e.what(), '\n').front());
  }
}

std::vector<std::pair<std::string, at::Tensor>> tensors(const ValuePtr& root) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  collect(root, "", out);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> load_state_dict(const fs::path& path) {
  ValuePtr root = load(path);
  if (root->kind != Value::Kind::Dict) fail("{}: expected a state dict (a dict of tensors), found {}", path.string(), root->describe());
  ValuePtr sd = root;
  for (const char* key : {"state_dict", "model", "model_state_dict", "net"}) {
    if (const ValuePtr* inner = root->find(key); inner && (*inner)->kind == Value::Kind::Dict) {
      sd = *inner;
      break;
    }
  }
  auto out = tensors(sd);
  if (out.empty()) fail("{}: no tensors found in the file", path.string());
  for (auto& [name, t] : out) {
    if (starts_with(name, "module.")) name = name.substr(7);
  }
  return out;
}

}  // namespace densemtl::torchfile

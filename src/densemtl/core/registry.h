// One registry template for every pluggable kind: tasks, architectures, balancers. A method file
// registers itself with one line at namespace scope,
//
//   DENSEMTL_REGISTER(models::ArchitectureEntry, {"cross_stitch", "help", make<CrossStitchImpl>, ...});
//
// and the registry hands out entries by name (an unknown name is a densemtl::Error with a "did you
// mean" and the known names), lists the names in order (`order`, then name) for the config
// schema's choice lists and --help-config, and refuses a name registered twice.
//
// An Entry is a plain struct with at least `std::string name` and `int order`, and a static
// `const char* kind()` naming the kind in errors ("architecture", "balancer", "task").
// Registration runs during static initialisation; the library is linked as object files (see
// CMakeLists.txt), so no registering file is dropped by the linker.
#pragma once

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl {

template <typename Entry>
class Registry {
 public:
  static Registry& global() {
    static Registry registry;
    return registry;
  }

  // Adds an entry; a second entry of the same name is a programming error, reported at start-up.
  bool add(Entry entry) {
    for (const auto& e : entries_)
      if (e.name == entry.name) duplicate_ = entry.name;
    entries_.push_back(std::move(entry));
    sorted_ = false;
    return true;
  }

  const Entry* find(const std::string& name) const {
    check();
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

  const Entry& get(const std::string& name) const {
    if (const Entry* e = find(name)) return *e;
    std::string hint = closest(name, names());
    fail("unknown {} '{}'{} (known {}s: {})", Entry::kind(), name, hint.empty() ? "" : " (did you mean '" + hint + "'?)", Entry::kind(),
         join(names(), ", "));
  }

  bool has(const std::string& name) const { return find(name) != nullptr; }

  // Names in registration order (`order`, then name).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Entry* e : entries()) out.push_back(e->name);
    return out;
  }

  std::vector<const Entry*> entries() const {
    check();
    if (!sorted_) {
      std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
        return a.order != b.order ? a.order < b.order : a.name < b.name;
      });
      sorted_ = true;
    }
    std::vector<const Entry*> out;
    for (const auto& e : entries_) out.push_back(&e);
    return out;
  }

 private:
  Registry() = default;
  void check() const {
    if (!duplicate_.empty()) fail("internal: {} '{}' is registered twice", Entry::kind(), duplicate_);
  }
  mutable std::deque<Entry> entries_;
  mutable bool sorted_ = false;
  std::string duplicate_;
};

}  // namespace densemtl

#define DENSEMTL_REGISTRY_CONCAT_(a, b) a##b
#define DENSEMTL_REGISTRY_CONCAT(a, b) DENSEMTL_REGISTRY_CONCAT_(a, b)
// Registers an entry of type EntryType from a braced initialiser, at namespace scope.
#define DENSEMTL_REGISTER(EntryType, ...)                                                       \
  [[maybe_unused]] static const bool DENSEMTL_REGISTRY_CONCAT(densemtl_registered_, __LINE__) = \
      ::densemtl::Registry<EntryType>::global().add(EntryType __VA_ARGS__)

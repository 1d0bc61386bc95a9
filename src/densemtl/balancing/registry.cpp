#include "densemtl/balancing/balancer.h"
#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::balancing {

// The registration list. A new method: one file defining make_balancer_<name>(), and one line here
// (plus its name in the experiment schema's balancer.name choices).
#define DENSEMTL_BALANCERS(X) X(fixed)

#define DENSEMTL_DECLARE(n) std::unique_ptr<Balancer> make_balancer_##n(const Options& o);
DENSEMTL_BALANCERS(DENSEMTL_DECLARE)
#undef DENSEMTL_DECLARE

const std::vector<std::string>& balancer_names() {
#define DENSEMTL_NAME(n) #n,
  static const std::vector<std::string> names = {DENSEMTL_BALANCERS(DENSEMTL_NAME)};
#undef DENSEMTL_NAME
  return names;
}

std::unique_ptr<Balancer> make_balancer(const Options& o) {
#define DENSEMTL_MAKE(n) \
  if (o.name == #n) return make_balancer_##n(o);
  DENSEMTL_BALANCERS(DENSEMTL_MAKE)
#undef DENSEMTL_MAKE
  fail("unknown balancer '{}' (known: {})", o.name, join(balancer_names(), ", "));
}

}  // namespace densemtl::balancing

#include "ops/op_util.h"

#include <algorithm>

#include "dsl/compiler.h"

namespace chainconv {

void require_bound(Compiler& c, const KeyTemplate& source, const KeyTemplate& target) {
  for (const std::string& name : target.placeholder_names())
    if (!source.has_placeholder(name))
      c.report(target.pos(), "placeholder",
               "placeholder {" + name + "} in '" + target.text() + "' is not bound by '" +
                   source.text() + "'");
}

void require_same_placeholders(Compiler& c, const KeyTemplate& source, const KeyTemplate& target,
                               const std::vector<std::string>& except) {
  auto excluded = [&](const std::string& n) {
    return std::find(except.begin(), except.end(), n) != except.end();
  };
  for (const std::string& name : target.placeholder_names())
    if (!excluded(name) && !source.has_placeholder(name))
      c.report(target.pos(), "placeholder",
               "placeholder {" + name + "} in '" + target.text() + "' is not bound by '" +
                   source.text() + "'");
  for (const std::string& name : source.placeholder_names())
    if (!excluded(name) && !target.has_placeholder(name))
      c.report(target.pos(), "placeholder",
               "'" + target.text() + "' drops placeholder {" + name + "} of '" + source.text() +
                   "', so distinct keys would collide");
}

}  // namespace chainconv

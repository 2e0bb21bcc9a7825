#include "ops/op_util.h"

#include <algorithm>
#include <charconv>

#include "core/dtypes.h"
#include "dsl/compiler.h"
#include "ops/op.h"

namespace chainconv {

int64_t integer_arg(Compiler&, const Node& node, const std::string& what) {
  return node.integer(what);
}

std::vector<int64_t> integer_list_arg(Compiler& c, const Node& node, const std::string& what) {
  std::vector<int64_t> out;
  for (const Node& item : node.list("a list of " + what)) out.push_back(integer_arg(c, item, what));
  return out;
}

const DtypeInfo& float_dtype_arg(const Node& args, const std::string& field,
                                 std::string_view fallback) {
  if (!args.has(field)) return dtype_named(fallback);
  const Node node = args[field];
  const std::string name = node.str("a dtype name");
  const DtypeInfo* dtype = find_dtype(name);
  if (!dtype || !dtype->floating())
    throw CheckError(node.pos(), "schema",
                     "expected a float dtype (BF16, F16, F32 or F64), found '" + name + "'");
  return *dtype;
}

int64_t tensor_dim(const Context& ctx, const Op& op, std::string_view key, int64_t ndim,
                   int64_t dim) {
  if (dim >= ndim || dim < -ndim)
    throw ctx.error(op, "'" + std::string(key) + "' has " + std::to_string(ndim) +
                            " dims, no dim " + std::to_string(dim));
  return dim < 0 ? dim + ndim : dim;
}

void refuse_on_shard(const Context& ctx, const Op& op, std::string_view key, const TensorDesc& desc,
                     bool needs_whole_expert_dim, const std::string& why) {
  if (!needs_whole_expert_dim || desc.expert_dim < 0 || ctx.options.expert_offset == 0) return;
  throw ctx.error(op, "cannot " + why + ": dim " + std::to_string(desc.expert_dim) + " of '" +
                          std::string(key) +
                          "' numbers experts and this expert-parallel shard (expert offset " +
                          std::to_string(ctx.options.expert_offset) +
                          ") holds only some of them, but the op needs the whole dim");
}

void require_bound(Compiler& c, const KeyTemplate& source, const KeyTemplate& target) {
  for (const std::string& name : target.placeholder_names())
    if (!source.has_placeholder(name))
      c.report(target.pos(), "placeholder",
               "placeholder {" + name + "} in '" + target.text() + "' is not bound by '" +
                   source.text() + "'");
}

int64_t index_value(const Context& ctx, const Op& op, std::string_view key, const std::string& name,
                    std::string_view text) {
  if (text.size() > 1 && text[0] == '0')
    throw ctx.error(op, "'" + std::string(key) + "' writes its index {" + name + "} as '" +
                            std::string(text) + "', with a leading zero");
  if (text.size() > 18)
    throw ctx.error(op,
                    "'" + std::string(key) + "' has an index {" + name + "} too large to count");
  int64_t value = 0;
  const auto [end, failed] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (failed != std::errc() || end != text.data() + text.size())
    throw ctx.error(op, "'" + std::string(key) + "' binds {" + name + "} to '" + std::string(text) +
                            "', which is not an index");
  return value;
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
  // The same name typed differently: what forward writes, backward could not read back.
  static const char* const kTypeNames[] = {"{name}", "{name:segment}", "{name:path}"};
  for (const Placeholder& t : target.placeholders())
    for (const Placeholder& s : source.placeholders())
      if (t.name == s.name && t.type != s.type && !excluded(t.name))
        c.report(target.pos(), "placeholder",
                 "placeholder {" + t.name + "} is typed " + kTypeNames[static_cast<int>(s.type)] +
                     " in '" + source.text() + "' but " + kTypeNames[static_cast<int>(t.type)] +
                     " in '" + target.text() + "': give it the same type in both");
}

}  // namespace chainconv

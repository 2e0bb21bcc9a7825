// Small helpers shared by the op units.
#pragma once

#include <string>
#include <vector>

#include "core/key_template.h"

namespace chainconv {

class Compiler;
class Node;
class Op;
struct Context;
struct TensorDesc;
struct DtypeInfo;

// Every integer argument of an op (a dim, a size, a head count) is read here, so that what
// an integer may be written as (a literal, a piece's ${param}) is decided in one place.
int64_t integer_arg(Compiler& c, const Node& node, const std::string& what);
// A list of them (a shape, a permutation).
std::vector<int64_t> integer_list_arg(Compiler& c, const Node& node, const std::string& what);

// The float dtype named by `args[field]` (a safetensors name: BF16, F16, F32, F64), or
// `fallback` when the field is absent; an Error at the field for any other name.
const DtypeInfo& float_dtype_arg(const Node& args, const std::string& field,
                                 std::string_view fallback);

// `dim` (negative counts from the end) as a dim of a `ndim`-dim tensor, or an Error at the op
// naming `key`.
int64_t tensor_dim(const Context& ctx, const Op& op, std::string_view key, int64_t ndim,
                   int64_t dim);
// The number `text`, the value key `key` binds to the digits placeholder {`name`}: an Error
// at the op when it has a leading zero (it would not come back as written) or more digits
// than an index can have.
int64_t index_value(const Context& ctx, const Op& op, std::string_view key, const std::string& name,
                    std::string_view text);
// Refuses, at the op, a tensor of an expert-parallel shard (a nonzero expert offset) whose
// expert dim the op needs whole: `why` says what the op would do to it.
void refuse_on_shard(const Context& ctx, const Op& op, std::string_view key, const TensorDesc& desc,
                     bool needs_whole_expert_dim, const std::string& why);

// Invertibility needs both sides of a move to bind the same placeholders (minus `except`):
// a target placeholder the source does not bind could not be filled, and a source
// placeholder the target drops would merge keys. Each violation is a "placeholder" problem
// reported to `c` at `target`'s position.
void require_same_placeholders(Compiler& c, const KeyTemplate& source, const KeyTemplate& target,
                               const std::vector<std::string>& except = {});
// Every placeholder of `target` is bound by `source` (a key made from another one).
void require_bound(Compiler& c, const KeyTemplate& source, const KeyTemplate& target);

}  // namespace chainconv

// The op registry: the one list of op kinds a chain may use. It is derived, not written: each
// op unit ends with CHAINCONV_REGISTER_OP("name", parse_function), and the build collects
// those lines from engine/ops/*.cc into the list (engine/ops/op_list.cmake). Adding an op is
// its unit, its schema entry and its tests; no list to edit.
#pragma once

#include <string_view>
#include <vector>

#include "ops/op.h"

namespace chainconv {

class Node;
class Compiler;

using ParseOp = OpPtr (*)(const Node& op, Compiler& compiler);

struct OpKind {
  std::string_view name;  // the key that introduces the op in a chain file
  ParseOp parse;
};

// Every registered op, by name.
const std::vector<OpKind>& op_kinds();
const OpKind* find_op_kind(std::string_view name);

}  // namespace chainconv

// Registers `parse` as the parser of ops introduced by `name` (a string literal). One line at
// the end of each op unit, inside namespace chainconv.
#define CHAINCONV_REGISTER_OP(name, parse) \
  OpKind registered_op_##parse() { return OpKind{name, &parse}; }

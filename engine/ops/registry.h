// The op registry: the one list of op kinds a chain may use. Adding an op means writing its
// unit in ops/, adding its entry here (registry.cc) and its definition to the schema.
#pragma once

#include <string_view>
#include <vector>

#include "ops/op.h"

namespace chainconv {

class Node;
class Compiler;

using ParseOp = OpPtr (*)(const Node& op, Compiler& compiler);

struct OpKind {
  std::string_view name;     // the key that introduces the op in a chain file
  std::string_view summary;  // one line: what forward does and what backward does
  ParseOp parse;
};

const std::vector<OpKind>& op_kinds();
const OpKind* find_op_kind(std::string_view name);

// Parse functions, one per op unit.
OpPtr parse_rename(const Node&, Compiler&);
OpPtr parse_prefix_rename(const Node&, Compiler&);
OpPtr parse_drop(const Node&, Compiler&);
OpPtr parse_stack(const Node&, Compiler&);
OpPtr parse_split(const Node&, Compiler&);
OpPtr parse_conditional(const Node&, Compiler&);
OpPtr parse_value_map(const Node&, Compiler&);
OpPtr parse_synthetic(const Node&, Compiler&);
OpPtr parse_squeeze_leading(const Node&, Compiler&);
OpPtr parse_use(const Node&, Compiler&);

}  // namespace chainconv

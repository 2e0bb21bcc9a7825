#include "ops/registry.h"

namespace chainconv {

const std::vector<OpKind>& op_kinds() {
  static const std::vector<OpKind> kinds = {
      {"rename", "rename a key (first present of several alternates wins); backward renames back",
       parse_rename},
      {"prefix_rename", "replace a key prefix, keeping the rest; backward swaps the prefixes back",
       parse_prefix_rename},
      {"drop", "remove keys that exist on one side only (exact or by prefix); not undone",
       parse_drop},
      {"stack", "stack indexed keys along a new dim from the expert offset; backward unstacks (views)",
       parse_stack},
      {"split", "split one tensor along a dim into parts (views); backward concatenates",
       parse_split},
      {"if", "run 'then' or 'else' per binding of the predicate's placeholders, per direction",
       parse_conditional},
      {"map", "transform values in place with declared forward and backward transforms",
       parse_value_map},
      {"synthetic", "create a placeholder tensor like a sibling; backward drops it", parse_synthetic},
      {"squeeze_leading", "backward only: drop a leading singleton dim", parse_squeeze_leading},
      {"use", "play a named piece with parameters", parse_use},
  };
  return kinds;
}

const OpKind* find_op_kind(std::string_view name) {
  for (const OpKind& kind : op_kinds())
    if (kind.name == name) return &kind;
  return nullptr;
}

}  // namespace chainconv

// The static checks: what can be told from a chain's text and its compiled ops, without a
// state dict.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "check/finding.h"
#include "dsl/chain.h"

namespace chainconv {

struct SourceFile {
  std::string path;  // as it appears in positions
  YAML::Node root;
};

// On the YAML of a chain and the files it includes, in the order the loader defines their
// pieces (an included file's includes first, the chain itself last): undefined pieces and
// parameters, piece cycles, malformed templates, target placeholders not bound by their
// source (and source placeholders a target drops), and `map` steps whose backward does not
// undo forward without `lossy:`. Pieces are checked where they are used, with the
// parameters of each use. Every problem is reported, not just the first.
std::vector<Finding> check_references(const std::vector<SourceFile>& files);

// On a compiled chain, in each direction, following the order ops run in and treating the
// branches of a conditional as exclusive:
//   write-conflict  two ops write keys one template could name, nothing consuming in between
//                   (a prefix or path template only when both name exactly the same keys)
//   dead            an op reads a template an earlier op always consumes
//   precedence      a predicate tests a key an earlier op (may have) consumed
std::vector<Finding> check_flow(const Chain& chain);

}  // namespace chainconv

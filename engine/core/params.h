// ${name} substitution, shared by chain pieces and layout blocks: both write parameters the
// same way, so both read them with one function.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace chainconv {

// Replaces each ${name} in `text` with lookup(name); lookup returns nullptr for a name it
// does not know. Throws Error at `pos`: "unknown <kind> ${name}<hint>", or for a '${' that
// is never closed.
std::string substitute_params(const std::string& text,
                              const std::function<const std::string*(const std::string&)>& lookup,
                              const Position& pos, const std::string& kind,
                              const std::string& hint = "");

// The command lines' `--set NAME=VALUE` (repeatable) and `--hf-experts LAYOUT` (the same as
// `--set hf_experts=LAYOUT`) as Options::params; throws Error for a malformed assignment or
// a parameter given twice.
std::map<std::string, std::string> param_assignments(const std::vector<std::string>& sets,
                                                     const std::string& hf_experts = "");

}  // namespace chainconv

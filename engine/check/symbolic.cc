#include "check/symbolic.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/key_ranges.h"
#include "program/lower.h"

namespace chainconv {
namespace {

// What one program did, by key: the first op to consume each key, the last to write it.
struct Recorder {
  explicit Recorder(const Program& program) {
    for (const Step& step : program.steps()) {
      const Op* op = step.op;
      fired.insert(op);
      if (consumes(step.kind))
        for (uint32_t k = 0; k < step.operands; ++k) {
          const std::string& key = program.name(program.operand(step, k));
          consumed_by.emplace(key, op);
          inputs_of[op].insert(key);
        }
      if (step.kind != StepKind::drop) {
        const std::string& key = program.name(step.output);
        produced_by[key] = op;
        outputs_of[op].insert(key);
      }
      if (step.kind == StepKind::move) {
        const std::string& from = program.name(program.operand(step, 0));
        const std::string& to = program.name(step.output);
        moved_to.emplace(from, to);
        moved_from[to] = from;
      }
    }
  }
  bool consumed(const Op* op, const std::string& key) const {
    auto it = inputs_of.find(op);
    return it != inputs_of.end() && it->second.count(key);
  }
  bool produced(const Op* op, const std::string& key) const {
    auto it = outputs_of.find(op);
    return it != outputs_of.end() && it->second.count(key);
  }

  std::set<const Op*> fired;
  std::map<std::string, const Op*> consumed_by;
  std::map<std::string, const Op*> produced_by;
  std::map<const Op*, std::set<std::string>> inputs_of, outputs_of;
  // Renames: the first new name of a consumed key, and the name the last writer of a key
  // moved it from.
  std::map<std::string, std::string> moved_to, moved_from;
};

// A key set by name: a program's inputs or outputs.
using Described = std::map<std::string, const TensorDesc*>;

Described inputs_of(const Program& p) {
  Described d;
  for (uint32_t s = 0; s < p.inputs(); ++s) d.emplace(p.name(s), &p.desc(s));
  return d;
}

Described outputs_of(const Program& p) {
  Described d;
  for (uint32_t s : p.outputs()) d.emplace(p.name(s), &p.desc(s));
  return d;
}

// Where each leaf op sits: the conditional branch holding it, if any.
struct BranchOf {
  const Op* conditional = nullptr;
  size_t branch = 0;
};

void index_ops(const Op& op, BranchOf where, std::map<const Op*, BranchOf>& out,
               std::vector<const Op*>& leaves) {
  auto branches = op.branches();
  if (!branches.empty()) {
    for (size_t b = 0; b < branches.size(); ++b)
      for (const Op* child : branches[b]) index_ops(*child, {&op, b}, out, leaves);
    return;
  }
  auto children = op.children();
  if (!children.empty()) {
    for (const Op* child : children) index_ops(*child, where, out, leaves);
    return;
  }
  out[&op] = where;
  leaves.push_back(&op);
}

struct Tree {
  std::map<const Op*, BranchOf> branch_of;
  std::vector<const Op*> leaves;
  explicit Tree(const Chain& chain) {
    for (const OpPtr& op : chain.ops) index_ops(*op, {}, branch_of, leaves);
  }
  bool in_branch(const Op* op) const {
    auto it = branch_of.find(op);
    return it != branch_of.end() && it->second.conditional;
  }
  // Some op in another branch of `op`'s conditional took a step in `run`.
  bool other_branch_fired(const Op* op, const Recorder& run) const {
    const BranchOf& at = branch_of.at(op);
    for (const Op* other : leaves) {
      const BranchOf& o = branch_of.at(other);
      if (o.conditional == at.conditional && o.branch != at.branch && run.fired.count(other))
        return true;
    }
    return false;
  }
};

// Groups keys by (op, severity, message) so that 128 experts make one finding.
class Grouped {
 public:
  void add(const Op* op, Severity severity, const std::string& what, const std::string& key) {
    auto id = std::make_tuple(op, severity, what);
    if (!groups_.count(id)) order_.push_back(id);
    groups_[id].push_back(key);
  }
  void flush(const std::string& file, std::vector<Finding>& out) {
    for (const auto& id : order_) {
      const auto& [op, severity, what] = id;
      const auto& keys = groups_[id];
      std::string subject = (keys.size() == 1 ? "'" : std::to_string(keys.size()) + " keys '") +
                            compress_keys_str(keys) + "'";
      std::string message = what;
      for (size_t at; (at = message.find("{keys}")) != std::string::npos;)
        message.replace(at, 6, subject);
      add_finding(out,
                  Finding{op ? op->pos() : Position{file, 0, 0}, severity, message, "roundtrip"});
    }
  }

 private:
  using Id = std::tuple<const Op*, Severity, std::string>;
  std::map<Id, std::vector<std::string>> groups_;
  std::vector<Id> order_;
};

// `first` took `original` to the other side, `second` brought it back as `result`.
void compare(const std::string& label, const Described& original, const Described& result,
             const Recorder& first, const Recorder& second, const Tree& tree,
             const std::string& file, std::vector<Finding>& out) {
  Grouped grouped;
  // A difference is declared when the op responsible says it is lossy, or when it sits in
  // a conditional branch that did not act on the key the other way while another branch of
  // the same conditional did (canonicalising: e.g. fused experts in, per-expert out).
  auto declared = [&](const Op* op, const std::string& key, bool consumer) -> std::string {
    if (!op) return {};
    if (!op->lossy().empty()) return "declared lossy: " + op->lossy();
    bool acted_back = consumer ? second.produced(op, key) : first.consumed(op, key);
    if (tree.in_branch(op) && !acted_back &&
        tree.other_branch_fired(op, consumer ? second : first)) {
      const Op* cond = tree.branch_of.at(op).conditional;
      return "canonicalising: the conditional at " + cond->pos().str() +
             " takes another branch the other way";
    }
    return {};
  };
  auto lookup = [](const std::map<std::string, const Op*>& m, const std::string& k) -> const Op* {
    auto it = m.find(k);
    return it == m.end() ? nullptr : it->second;
  };
  // A key renamed first (backbone. -> model.) and only then canonicalised by a branch: the
  // difference is declared by an op further along the key's renames. Follows them (forward
  // from a consumed key in `first`, back from a produced key in `second`) to the first op
  // that declares it; `op` becomes that op when one does.
  auto declared_along = [&](const Op*& op, const std::string& key, bool consumer) {
    std::string why = declared(op, key, consumer);
    const Recorder& rec = consumer ? first : second;
    const auto& next_name = consumer ? rec.moved_to : rec.moved_from;
    const auto& actor = consumer ? rec.consumed_by : rec.produced_by;
    std::string k = key;
    for (int hops = 0; why.empty() && hops < 64; ++hops) {  // renames could come round again
      auto it = next_name.find(k);
      if (it == next_name.end()) break;
      k = it->second;
      const Op* next = lookup(actor, k);
      if (!next) break;
      why = declared(next, k, consumer);
      if (!why.empty()) op = next;
    }
    return why;
  };
  for (const auto& [key, item] : original) {
    auto found = result.find(key);
    if (found == result.end()) {
      const Op* op = lookup(first.consumed_by, key);
      std::string why = declared_along(op, key, true);
      if (!why.empty())
        grouped.add(op, Severity::note, label + ": {keys} not restored (" + why + ")", key);
      else
        grouped.add(
            op, Severity::error,
            label + ": {keys} not restored" +
                (op ? ": consumed by this " + std::string(op->kind()) + ", never written back"
                    : ""),
            key);
      continue;
    }
    const TensorDesc& back = *found->second;
    if (back.same_kind(*item)) continue;
    const Op* op = lookup(second.produced_by, key);
    std::string change = " comes back as " + back.str() + " instead of " + item->str();
    std::string why = declared_along(op, key, false);
    if (!why.empty()) {
      grouped.add(op, Severity::note, label + ": {keys}" + change + " (" + why + ")", key);
    } else {
      grouped.add(op, Severity::error, label + ": {keys}" + change, key);
    }
  }
  for (const auto& [key, item] : result) {
    if (original.count(key)) continue;
    const Op* op = lookup(second.produced_by, key);
    if (!op) {  // written on the way there and never taken back
      const Op* writer = lookup(first.produced_by, key);
      grouped.add(writer, Severity::error,
                  label + ": {keys} " +
                      (writer ? "written by this " + std::string(writer->kind()) + " " : "") +
                      "are never taken back",
                  key);
      continue;
    }
    std::string why = declared_along(op, key, false);
    if (!why.empty())
      grouped.add(op, Severity::note, label + ": {keys} appear instead (" + why + ")", key);
    else
      grouped.add(op, Severity::error,
                  label + ": {keys} appear that were not there" +
                      (op ? ", written by this " + std::string(op->kind()) : ""),
                  key);
  }
  grouped.flush(file, out);
}

// Lowers `chain` on `inputs`; a failure or warning becomes a finding.
std::optional<Program> run(const Chain& chain, std::vector<TensorSpec> inputs, Direction d,
                           const Options& options, const std::string& label,
                           std::vector<Finding>& out) {
  try {
    Program program = lower(chain, d, std::move(inputs), options);
    for (const Warning& w : program.warnings())
      add_finding(out, Finding{w.pos, Severity::warning, label + ": " + w.message, "roundtrip"});
    return program;
  } catch (const Error& e) {
    Position pos = e.pos().known() ? e.pos() : Position{chain.file, 0, 0};
    add_finding(out, Finding{pos, Severity::error, label + " fails on the layout: " + e.message(),
                             "roundtrip"});
    return std::nullopt;
  }
}

// The programs of a layout's roundtrips and what each did, lowered once for every check
// that reads them.
struct Roundtrips {
  Tree tree;
  std::optional<Program> prime, back, again;
  std::optional<Recorder> forward, backward, forward_again;
  std::vector<Finding> failures;  // lowering failures and warnings, as roundtrip findings

  Roundtrips(const Chain& chain, const std::vector<TensorSpec>& hf, const Options& options)
      : tree(chain) {
    prime = run(chain, hf, Direction::to_prime, options, "HF -> prime", failures);
    if (!prime) return;
    forward.emplace(*prime);
    back =
        run(chain, output_specs(*prime), Direction::to_hf, options, "HF -> prime -> HF", failures);
    if (!back) return;
    backward.emplace(*back);
    again = run(chain, output_specs(*back), Direction::to_prime, options, "prime -> HF -> prime",
                failures);
    if (again) forward_again.emplace(*again);
  }
};

std::vector<Finding> roundtrip_findings(const Chain& chain, const Roundtrips& r) {
  std::vector<Finding> findings = r.failures;
  if (r.back)
    compare("HF -> prime -> HF", inputs_of(*r.prime), outputs_of(*r.back), *r.forward, *r.backward,
            r.tree, chain.file, findings);
  if (r.again)
    compare("prime -> HF -> prime", outputs_of(*r.prime), outputs_of(*r.again), *r.backward,
            *r.forward_again, r.tree, chain.file, findings);
  sort_findings(findings);
  return findings;
}

std::vector<Finding> coverage_findings(const Chain& chain, const Roundtrips& r) {
  std::vector<Finding> findings;
  if (!r.back) return findings;  // the failure is a roundtrip finding
  const Tree& tree = r.tree;
  const Recorder &forward = *r.forward, &backward = *r.backward;
  const Program& prime = *r.prime;

  auto fired = [&](const Op* op) { return forward.fired.count(op) || backward.fired.count(op); };
  auto branch_taken = [&](const Op* op) {
    const BranchOf& at = tree.branch_of.at(op);
    for (const Op* other : tree.leaves) {
      const BranchOf& o = tree.branch_of.at(other);
      if (o.conditional == at.conditional && o.branch == at.branch && fired(other)) return true;
    }
    return false;
  };
  // A piece used twice (say for text and VLM prefixes) is one op in the file: it fires when
  // any of its uses does.
  std::map<std::string, std::vector<const Op*>> by_place;
  std::vector<std::string> places;
  for (const Op* op : tree.leaves) {
    std::string place = op->pos().str();
    if (!by_place.count(place)) places.push_back(place);
    by_place[place].push_back(op);
  }
  for (const std::string& place : places) {
    const auto& uses = by_place[place];
    if (std::any_of(uses.begin(), uses.end(), fired)) continue;
    const Op* op = uses.front();
    bool in_branch = tree.in_branch(op);
    bool taken = std::any_of(uses.begin(), uses.end(),
                             [&](const Op* u) { return tree.in_branch(u) && branch_taken(u); });
    if (in_branch && !taken) {
      add_finding(findings,
                  Finding{op->pos(), Severity::note,
                          "never fires on this layout: its branch of the conditional at " +
                              tree.branch_of.at(op).conditional->pos().str() + " is not taken",
                          "coverage"});
    } else if (!op->lossy().empty()) {
      add_finding(
          findings,
          Finding{op->pos(), Severity::note,
                  "this " + std::string(op->kind()) + " never fires on this layout", "coverage"});
    } else {
      add_finding(findings,
                  Finding{op->pos(), Severity::warning,
                          "this " + std::string(op->kind()) +
                              " never fires on this layout: no key matches what it reads (a typo?)",
                          "coverage"});
    }
  }

  KeyIndex prime_keys;
  for (uint32_t slot : prime.outputs()) prime_keys.emplace(prime.name(slot), slot);
  for (const KeyTemplate& expected : chain.expect_converted) {
    std::vector<std::string> left;
    for (const TemplateMatch& m : expected.matches(prime_keys, {}))
      if (!forward.produced_by.count(std::string(m.key))) left.push_back(std::string(m.key));
    if (left.empty()) continue;
    add_finding(findings,
                Finding{expected.pos(), Severity::warning,
                        std::to_string(left.size()) + " key(s) matching '" + expected.text() +
                            "' are left untouched by forward: " + compress_keys_str(left),
                        "coverage"});
  }
  sort_findings(findings);
  return findings;
}

}  // namespace

std::vector<Finding> symbolic_roundtrip(const Chain& chain, const std::vector<TensorSpec>& hf,
                                        const Options& options) {
  return roundtrip_findings(chain, Roundtrips(chain, hf, options));
}

std::vector<Finding> check_coverage(const Chain& chain, const std::vector<TensorSpec>& hf,
                                    const Options& options) {
  return coverage_findings(chain, Roundtrips(chain, hf, options));
}

std::vector<Finding> check_on_layout(const Chain& chain, const std::vector<TensorSpec>& hf,
                                     const Options& options, const TargetSide* target) {
  const Roundtrips r(chain, hf, options);
  std::vector<Finding> findings = roundtrip_findings(chain, r);
  for (Finding& f : coverage_findings(chain, r)) add_finding(findings, std::move(f));
  if (target && r.prime)
    for (Finding& f : check_against_target(chain, *r.prime, *target, options))
      add_finding(findings, std::move(f));
  return findings;
}

}  // namespace chainconv

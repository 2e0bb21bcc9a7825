#include "check/symbolic.h"

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/key_ranges.h"
#include "ops/op_util.h"

namespace chainconv {
namespace {

class Recorder final : public Observer {
 public:
  void on_step(const Op& op, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs) override {
    fired.insert(&op);
    for (const std::string& k : inputs) consumed_by.emplace(k, &op);  // the first consumer
    for (const std::string& k : outputs) {
      produced_by[k] = &op;  // the last producer
      outputs_of[&op].insert(k);
    }
    for (const std::string& k : inputs) inputs_of[&op].insert(k);
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
};

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

std::string describe(const Item& item) {
  return shape_str(item.tensor.sizes().vec()) + " " +
         (item.opaque_dtype.empty() ? std::string(c10::toString(item.tensor.scalar_type()))
                                    : item.opaque_dtype);
}

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
                  Finding{op ? op->pos() : SourcePos{file, 0, 0}, severity, message, "roundtrip"});
    }
  }

 private:
  using Id = std::tuple<const Op*, Severity, std::string>;
  std::map<Id, std::vector<std::string>> groups_;
  std::vector<Id> order_;
};

// `first` took `original` to the other side, `second` brought it back as `result`.
void compare(const std::string& label, const StateDict& original, const StateDict& result,
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
  for (const auto& [key, item] : original) {
    const Item* back = result.find(key);
    if (!back) {
      const Op* op = lookup(first.consumed_by, key);
      std::string why = declared(op, key, true);
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
    if (back->tensor.sizes() == item.tensor.sizes() &&
        back->tensor.scalar_type() == item.tensor.scalar_type() &&
        back->opaque_dtype == item.opaque_dtype)
      continue;
    const Op* op = lookup(second.produced_by, key);
    std::string change = " comes back as " + describe(*back) + " instead of " + describe(item);
    std::string why = declared(op, key, false);
    if (!why.empty()) {
      grouped.add(op, Severity::note, label + ": {keys}" + change + " (" + why + ")", key);
    } else {
      grouped.add(op, Severity::error, label + ": {keys}" + change, key);
    }
  }
  for (const auto& [key, item] : result) {
    if (original.contains(key)) continue;
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
    std::string why = declared(op, key, false);
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

// Runs `chain` on `dict` in place; a failure or warning becomes a finding.
bool run(const Chain& chain, StateDict& dict, Direction d, const RunOptions& options,
         Recorder& recorder, const std::string& label, std::vector<Finding>& out) {
  try {
    for (const Warning& w : chain.run(dict, d, options, &recorder))
      add_finding(out, Finding{w.pos, Severity::warning, label + ": " + w.message, "roundtrip"});
    return true;
  } catch (const Error& e) {
    SourcePos pos = e.pos().known() ? e.pos() : SourcePos{chain.file, 0, 0};
    add_finding(out, Finding{pos, Severity::error, label + " fails on the layout: " + e.message(),
                             "roundtrip"});
    return false;
  }
}

}  // namespace

std::vector<Finding> symbolic_roundtrip(const Chain& chain, const StateDict& meta_hf,
                                        const RunOptions& options) {
  std::vector<Finding> findings;
  Tree tree(chain);
  StateDict prime = meta_hf;
  Recorder forward;
  if (!run(chain, prime, Direction::to_prime, options, forward, "HF -> prime", findings))
    return findings;
  StateDict hf = prime;
  Recorder backward;
  if (!run(chain, hf, Direction::to_hf, options, backward, "HF -> prime -> HF", findings))
    return findings;
  compare("HF -> prime -> HF", meta_hf, hf, forward, backward, tree, chain.file, findings);
  StateDict prime_again = hf;
  Recorder forward_again;
  if (!run(chain, prime_again, Direction::to_prime, options, forward_again, "prime -> HF -> prime",
           findings))
    return findings;
  compare("prime -> HF -> prime", prime, prime_again, backward, forward_again, tree, chain.file,
          findings);
  sort_findings(findings);
  return findings;
}

std::vector<Finding> check_coverage(const Chain& chain, const StateDict& meta_hf,
                                    const RunOptions& options) {
  std::vector<Finding> findings;
  Tree tree(chain);
  StateDict prime = meta_hf;
  Recorder forward, backward;
  std::vector<Finding> failures;  // reported by symbolic_roundtrip
  if (!run(chain, prime, Direction::to_prime, options, forward, "HF -> prime", failures))
    return findings;
  StateDict hf = prime;
  if (!run(chain, hf, Direction::to_hf, options, backward, "HF -> prime -> HF", failures))
    return findings;

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

  for (const KeyTemplate& expected : chain.expect_converted) {
    std::vector<std::string> left;
    for (const TemplateMatch& m : expected.matches(prime, {}))
      if (!forward.produced_by.count(m.key)) left.push_back(m.key);
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

}  // namespace chainconv

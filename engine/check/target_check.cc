#include "check/target_check.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/text.h"
#include "ops/op.h"
#include "program/lineage.h"
#include "program/lower.h"

namespace chainconv {
namespace {

// Most differences one direction reports: past these, a count (a wrong op upstream makes
// many wrong tensors, and the first ones say where).
constexpr size_t kShown = 12;

std::string describe(const std::vector<int64_t>& shape, const DtypeInfo& dtype) {
  return std::string(dtype.name) + " " + shape_str(shape);
}

// The op whose step made `slot` (nullptr for a tensor no step made) and where to report it.
struct Maker {
  const Op* op;
  Position pos;
};

Maker maker_of(const Chain& chain, const Program& program, uint32_t slot) {
  const int32_t step = program.producer(slot);
  if (step < 0) return {nullptr, Position{chain.file, 1, 1}};
  const Op* op = program.step(static_cast<size_t>(step)).op;
  return {op, op->pos()};
}

struct Difference {
  size_t order;  // the step that made the tensor (steps ran in this order); last: no step
  Position pos;
  std::string message;
};

// Compares what `program` made with `expected`; keys in `never_back` (what the other direction
// dropped, a declared loss) are not expected.
void compare(const Chain& chain, const Program& program, const std::vector<TensorSpec>& expected,
             const std::set<std::string>& never_back, const std::string& made_side,
             std::vector<Finding>& out) {
  const Direction direction = program.direction;
  const std::string label = std::string(direction_name(direction));
  std::map<std::string_view, const TensorSpec*> want;
  for (const TensorSpec& t : expected) want.emplace(t.key, &t);
  const Position chain_pos{chain.file, 1, 1};
  const size_t untouched = program.steps().size();
  std::vector<Difference> found;
  for (uint32_t slot : program.outputs()) {
    const std::string& key = program.name(slot);
    const TensorDesc& d = program.desc(slot);
    const int32_t step = program.producer(slot);
    const auto [op, pos] = maker_of(chain, program, slot);
    const std::string who = op ? std::string(op->kind()) : std::string("no op");
    const size_t order = step < 0 ? untouched : static_cast<size_t>(step);
    auto it = want.find(key);
    if (it == want.end()) {
      found.push_back({order, pos,
                       label + ": " + who + (op ? " makes '" : " touches, so it keeps '") + key +
                           "' (" + describe(d.shape, *d.dtype) + "), which the " + made_side +
                           " layout does not have"});
      continue;
    }
    const TensorSpec& t = *it->second;
    if (t.shape != d.shape || t.dtype != d.dtype)
      found.push_back({order, pos,
                       label + ": " + who + " makes '" + key + "' " + describe(d.shape, *d.dtype) +
                           ", but the " + made_side + " layout has " +
                           describe(t.shape, *t.dtype)});
    want.erase(it);
  }
  for (const auto& [key, t] : want)
    if (!never_back.count(std::string(key)))
      found.push_back({untouched + 1, chain_pos,
                       label + ": nothing makes the " + made_side + " layout's '" +
                           std::string(key) + "' (" + describe(t->shape, *t->dtype) + ")"});
  std::stable_sort(found.begin(), found.end(),
                   [](const Difference& a, const Difference& b) { return a.order < b.order; });
  for (size_t i = 0; i < found.size() && i < kShown; ++i)
    out.push_back(Finding{found[i].pos, Severity::error, found[i].message, "target"});
  if (found.size() > kShown)
    out.push_back(Finding{found[kShown].pos, Severity::error,
                          label + ": " + std::to_string(found.size() - kShown) +
                              " more tensors differ from the " + made_side + " layout",
                          "target"});
}

// The op kinds on a tensor's way.
std::set<std::string_view> kinds_on_way(const Program& program, const Lineage& lineage) {
  std::set<std::string_view> kinds;
  for (size_t step : lineage.steps) kinds.insert(program.step(step).op->kind());
  return kinds;
}

std::string joined(const std::vector<std::string>& kinds) {
  std::string out;
  for (const std::string& k : kinds) out += (out.empty() ? "" : ", ") + k;
  return out;
}

void require_made_by(const Chain& chain, const Program& forward, const Program& backward,
                     const std::map<std::string, std::vector<std::string>>& made_by,
                     const std::string& target_name, std::vector<Finding>& out) {
  if (made_by.empty()) return;
  // The kinds of `need` not on the way of `slot`, whose lineage is `lineage`.
  auto lacking_of = [](const Program& p, const Lineage& lineage,
                       const std::vector<std::string>& need) {
    const std::set<std::string_view> on_way = kinds_on_way(p, lineage);
    std::vector<std::string> lacking;
    for (const std::string& kind : need)
      if (!on_way.count(kind)) lacking.push_back(kind);
    return lacking;
  };
  for (uint32_t slot : forward.outputs()) {
    auto it = made_by.find(forward.name(slot));
    if (it == made_by.end()) continue;
    const std::vector<std::string> lacking =
        lacking_of(forward, lineage_of(forward, slot), it->second);
    if (!lacking.empty())
      out.push_back(Finding{maker_of(chain, forward, slot).pos, Severity::error,
                            "to_prime: '" + forward.name(slot) + "' is made without " +
                                joined(lacking) + ", which the " + target_name +
                                " layout requires of it (made_by)",
                            "target"});
  }
  // Backward: every output made from such a key passes through the same ops back.
  for (uint32_t slot : backward.outputs()) {
    const Lineage lineage = lineage_of(backward, slot);
    for (uint32_t source : lineage.sources) {
      auto it = made_by.find(backward.name(source));
      if (it == made_by.end()) continue;
      const std::vector<std::string> lacking = lacking_of(backward, lineage, it->second);
      if (!lacking.empty())
        out.push_back(Finding{maker_of(chain, backward, slot).pos, Severity::error,
                              "to_hf: '" + backward.name(slot) + "' is made from '" +
                                  backward.name(source) + "' without " + joined(lacking) +
                                  ", which the " + target_name + " layout requires (made_by)",
                              "target"});
    }
  }
}

}  // namespace

std::vector<Finding> check_against_target(const Chain& chain, const std::vector<TensorSpec>& hf,
                                          const TargetSide& target, const Options& options) {
  Program forward;
  try {
    forward = lower(chain, Direction::to_prime, hf, options);
  } catch (const Error&) {
    return {};  // the roundtrip check reports a lowering that fails, at its op
  }
  return check_against_target(chain, forward, target, options);
}

std::vector<Finding> check_against_target(const Chain& chain, const Program& forward,
                                          const TargetSide& target, const Options& options) {
  std::vector<Finding> out;
  Program backward;
  try {
    backward = lower(chain, Direction::to_hf, *target.tensors, options);
  } catch (const Error&) {
    return out;  // the roundtrip check reports a lowering that fails, at its op
  }
  // A drop forward (of an HF-only key, e.g. nemotron_h's mtp.*) is a declared loss: backward
  // cannot make what the prime side never holds. Prime-only keys dropped backward likewise.
  auto dropped_by = [](const Program& p) {
    std::set<std::string> keys;
    for (const Step& step : p.steps())
      if (step.kind == StepKind::drop) keys.insert(p.name(p.operand(step, 0)));
    return keys;
  };
  compare(chain, forward, *target.tensors, dropped_by(backward), target.name, out);
  compare(chain, backward, *target.hf_back, dropped_by(forward), "HF", out);
  if (target.made_by) require_made_by(chain, forward, backward, *target.made_by, target.name, out);
  return out;
}

}  // namespace chainconv

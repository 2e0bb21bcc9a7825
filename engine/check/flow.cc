// check_flow: follows a compiled chain in the order its ops run, keeping what earlier ops
// consumed and wrote, as templates. A fact is "always" when it holds on every path (not
// only inside one branch of a conditional).
#include <algorithm>
#include <set>

#include "check/static_checks.h"
#include "check/template_overlap.h"

namespace chainconv {
namespace {

struct Fact {
  const KeyTemplate* key;
  const Op* op;
  bool always;
};

struct State {
  std::vector<Fact> consumed;
  std::vector<Fact> written;
};

std::string where(const Op& op) {
  return "the " + std::string(op.kind()) + " at " + op.pos().str();
}

// A prefix or {name:path} template names a whole subtree.
bool broad(const KeyTemplate& t) {
  if (t.is_prefix()) return true;
  for (const Placeholder& p : t.placeholders())
    if (p.type == PlaceholderType::path) return true;
  return false;
}

// Two writes collide when they can name the same key. A broad write (a prefix move) lands
// under a subtree that later ops routinely refine, so it collides only with a write of
// exactly the same keys.
bool writes_collide(const KeyTemplate& a, const KeyTemplate& b) {
  if (broad(a) || broad(b)) return covers(a, b) && covers(b, a);
  return may_overlap(a, b);
}

bool contains(const std::vector<const KeyTemplate*>& list, const KeyTemplate* t) {
  return std::find(list.begin(), list.end(), t) != list.end();
}

// Union of the branches' facts; a fact stays "always" only if every branch has it so.
std::vector<Fact> merge(const std::vector<std::vector<Fact>>& branches) {
  std::vector<Fact> merged;
  for (const auto& facts : branches) {
    for (const Fact& f : facts) {
      auto same = [&](const Fact& m) { return m.key == f.key && m.op == f.op; };
      if (std::any_of(merged.begin(), merged.end(), same)) continue;
      bool always =
          std::all_of(branches.begin(), branches.end(), [&](const std::vector<Fact>& other) {
            return std::any_of(other.begin(), other.end(),
                               [&](const Fact& o) { return same(o) && o.always; });
          });
      merged.push_back({f.key, f.op, always});
    }
  }
  return merged;
}

class Flow {
 public:
  Flow(Direction d, std::vector<Finding>& out) : d_(d), out_(out) {}

  void sequence(std::vector<const Op*> ops, State& state) {
    if (d_ == Direction::to_hf) std::reverse(ops.begin(), ops.end());
    for (const Op* op : ops) step(*op, state);
  }

 private:
  void report(const Position& pos, Severity severity, const std::string& message,
              const std::string& check) {
    add_finding(out_, Finding{pos, severity, message, check});
  }

  void step(const Op& op, State& state) {
    auto branches = op.branches();
    if (!branches.empty()) return conditional(op, branches, state);
    auto children = op.children();
    if (!children.empty()) return sequence(children, state);
    leaf(op, state);
  }

  void conditional(const Op& op, const std::vector<std::vector<const Op*>>& branches,
                   State& state) {
    Footprint own, inner;
    op.footprint(d_, own);
    for (const auto& branch : branches)
      for (const Op* child : branch) child->footprint(d_, inner);
    for (const KeyTemplate* tested : own.tests) {
      if (contains(inner.tests, tested)) continue;  // a child's, not the predicate's
      for (const Fact& c : state.consumed)
        if (may_overlap(*c.key, *tested))
          report(tested->pos(), Severity::error,
                 "the predicate tests '" + tested->text() + "', but " + where(*c.op) +
                     " consumes '" + c.key->text() +
                     "' before it runs; precedence must be explicit (e.g. 'rename: {from: [A, "
                     "B]}'), never an accident of op order",
                 "precedence");
    }
    std::vector<std::vector<Fact>> consumed, written;
    for (const auto& branch : branches) {
      State inside = state;
      sequence(branch, inside);
      consumed.push_back(inside.consumed);
      written.push_back(inside.written);
    }
    state.consumed = merge(consumed);
    state.written = merge(written);
  }

  void leaf(const Op& op, State& state) {
    Footprint fp;
    op.footprint(d_, fp);
    // A template both read and written is changed in place (map): neither consumed nor new.
    std::vector<const KeyTemplate*> consumes, writes, needs = fp.tests;
    for (const KeyTemplate* t : fp.reads) (contains(fp.writes, t) ? needs : consumes).push_back(t);
    for (const KeyTemplate* t : fp.writes)
      if (!contains(fp.reads, t)) writes.push_back(t);

    std::vector<const KeyTemplate*> inputs = consumes;
    inputs.insert(inputs.end(), needs.begin(), needs.end());
    for (const KeyTemplate* input : inputs) {
      for (const Fact& c : state.consumed) {
        if (!c.always || c.op == &op || !covers(*c.key, *input)) continue;
        report(input->pos(), Severity::warning,
               "'" + input->text() + "' is always consumed earlier by " + where(*c.op) + " ('" +
                   c.key->text() + "'), so this op never sees it",
               "dead");
        break;
      }
    }

    // Fills (a key created only where it is absent) never overwrite: no conflict to check.
    {
      for (size_t i = 0; i < writes.size(); ++i) {
        for (const Fact& w : state.written)
          if (w.op != &op && writes_collide(*w.key, *writes[i]))
            report(writes[i]->pos(), Severity::error,
                   "'" + writes[i]->text() + "' may overwrite '" + w.key->text() +
                       "', written earlier by " + where(*w.op) + " and not consumed in between",
                   "write-conflict");
        for (size_t j = 0; j < i; ++j)
          if (writes_collide(*writes[j], *writes[i]))
            report(writes[i]->pos(), Severity::error,
                   "'" + writes[i]->text() + "' and '" + writes[j]->text() +
                       "' of the same op can name the same key",
                   "write-conflict");
      }
    }

    for (const KeyTemplate* c : consumes) {
      auto& w = state.written;
      if (!fp.partial_reads)
        w.erase(
            std::remove_if(w.begin(), w.end(), [&](const Fact& f) { return covers(*c, *f.key); }),
            w.end());
      state.consumed.push_back({c, &op, !fp.partial_reads});
    }
    for (const KeyTemplate* t : fp.fills) writes.push_back(t);
    for (const KeyTemplate* t : writes) {
      auto& c = state.consumed;
      c.erase(std::remove_if(c.begin(), c.end(),
                             [&](const Fact& f) { return may_overlap(*t, *f.key); }),
              c.end());
      state.written.push_back({t, &op, true});
    }
  }

  Direction d_;
  std::vector<Finding>& out_;
};

}  // namespace

std::vector<Finding> check_flow(const Chain& chain) {
  std::vector<const Op*> top;
  for (const OpPtr& op : chain.ops) top.push_back(op.get());
  std::vector<Finding> per_direction[2];
  for (Direction d : {Direction::to_prime, Direction::to_hf}) {
    State state;
    Flow(d, per_direction[d == Direction::to_hf]).sequence(top, state);
  }
  // Say once what holds both ways.
  auto same = [](const Finding& a, const Finding& b) {
    return a.pos.str() == b.pos.str() && a.message == b.message;
  };
  std::vector<Finding> findings;
  for (Finding f : per_direction[0]) {
    auto& back = per_direction[1];
    auto twin =
        std::find_if(back.begin(), back.end(), [&](const Finding& b) { return same(f, b); });
    f.message += twin == back.end() ? " (to_prime)" : " (both directions)";
    if (twin != back.end()) back.erase(twin);
    findings.push_back(std::move(f));
  }
  for (Finding f : per_direction[1]) {
    f.message += " (to_hf)";
    findings.push_back(std::move(f));
  }
  return findings;
}

}  // namespace chainconv

// What every op is: one small unit (ops/<name>.cc) that owns
//   * parsing its YAML (its parse function, registered with CHAINCONV_REGISTER_OP),
//   * its rule on tensor descriptions in each direction: forward (HF -> prime) and backward
//     (prime -> HF, the inverse of forward), and
//   * its lowering into primitive steps of the step program (program/program.h),
// plus the key footprint the static checks reason about and its documentation (the comment
// at the top of its unit and its entry in schema/chain.schema.json).
//
// Ops never see tensors. They run on a dict of descriptions (key -> slot of the program
// being built), decide what to do from keys, shapes and dtypes, and say it as steps; the
// executors do the tensor work.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/key_template.h"
#include "ops/params.h"
#include "program/program.h"

namespace chainconv {

class Op;

// Everything an op needs while it lowers.
struct Context {
  Program& program;
  KeyIndex& dict;  // the state dict as the previous op left it
  Direction direction;
  const Options& options;
  const ParamEnv& params;  // the chain's parameters and config values, bound for this lowering
  Bindings scope;          // placeholders fixed by enclosing conditionals (e.g. layer=3)

  Context with_scope(Bindings bindings) const;
  // Records a warning, or throws it as an Error in strict mode.
  void warn(const Op& op, const std::string& message);
  // "<kind> (<direction>): message", at the op's position.
  Error error(const Op& op, const std::string& message) const;
  // That `key` is present already: ops never overwrite.
  Error overwrite_error(const Op& op, std::string_view key) const;

  const TensorDesc& desc(uint32_t slot) const { return program.desc(slot); }
  bool contains(std::string_view key) const { return dict.find(key) != dict.end(); }
  // The slot of `key`, or nullptr.
  const uint32_t* find(std::string_view key) const;

  // The dict side of a step: take a key out (an Error naming the op if it is missing), put
  // a step's output in under its name (an Error if that key is present: ops never
  // overwrite), check first that a key is free.
  uint32_t take(const Op& op, std::string_view key);
  uint32_t take(const TemplateMatch& match);  // the matched entry, still present
  uint32_t take(const KeyMatch& match);
  void put(const Op& op, uint32_t slot);
  // The same for a key that goes at or a few entries after `near` (keys put in order): found
  // from there instead of from the root. Returns its entry.
  KeyIndex::iterator put_near(const Op& op, uint32_t slot, KeyIndex::iterator near);
  void require_free(const Op& op, std::string_view key) const;
  // A rename of a matched key: the move step and its dict side.
  void move(const Op& op, const TemplateMatch& from, std::string to);
  // The same by name, for a key that several templates of one op may have matched.
  void move(const Op& op, std::string_view from, std::string to);
};

// The templates an op reads (consumes or transforms) and writes in one direction.
struct Footprint {
  std::vector<const KeyTemplate*> reads;
  std::vector<const KeyTemplate*> writes;
  std::vector<const KeyTemplate*> tests;  // only looked at (predicates, a synthetic's `like`)
  std::vector<const KeyTemplate*> fills;  // written only where absent: never an overwrite
  // The reads are consumed only where a value condition holds (renumber: from its start
  // index on), so later ops may still see keys matching them.
  bool partial_reads = false;
};

class Op {
 public:
  explicit Op(Position pos) : pos_(std::move(pos)) {}
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  virtual std::string_view kind() const = 0;
  virtual void forward(Context& ctx) const = 0;   // HF -> prime
  virtual void backward(Context& ctx) const = 0;  // prime -> HF: the inverse of forward
  void run(Context& ctx) const {
    ctx.direction == Direction::to_prime ? forward(ctx) : backward(ctx);
  }
  virtual void footprint(Direction direction, Footprint& out) const = 0;
  virtual std::vector<const Op*> children() const { return {}; }
  // A choice between op lists (a conditional's then and else), each played in order; empty
  // for ops that are not a choice. The checks treat ops in different branches as exclusive.
  virtual std::vector<std::vector<const Op*>> branches() const { return {}; }
  // Non-empty when backward does not restore exactly what forward consumed: why not.
  virtual std::string lossy() const { return {}; }
  // Whether the op treats each value of placeholder `name` on its own without reading the
  // value: keys with different values never meet in one step, and the same keys under
  // another value lower to the same steps under the other name. Lowering may then be split
  // by layer (program/lower_by_layer.h). Ops that match per binding say yes; an op that
  // counts the value (a stack's index, a renumbering) or decides for several values at once
  // (a conditional dispatched over other placeholders) says no. Children answer for
  // themselves.
  virtual bool acts_per_value_of(const std::string& name) const {
    (void)name;
    return true;
  }
  // Whether what the op does to a key it matches depends on that key alone: on no other key
  // and on no placeholder's value (a drop, a prefix rename).
  virtual bool acts_per_key() const { return false; }

  const Position& pos() const { return pos_; }

 private:
  Position pos_;
};

using OpPtr = std::unique_ptr<Op>;
using OpList = std::vector<OpPtr>;

// Plays `ops` in `ctx.direction`: in order forward, inverses in reverse order backward.
void run_ops(const OpList& ops, Context& ctx);

}  // namespace chainconv

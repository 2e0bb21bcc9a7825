// What every op is: one small unit that owns its forward, its backward (the inverse,
// played when converting prime -> HF), the key footprint the checks reason about, and its
// documentation (in the registry entry and in schema/chain.schema.json).
//
// Shape rule: ops are written against ATen calls that also run on meta tensors (no data),
// so running a chain on a dict of meta tensors *is* its symbolic execution. Where a call
// has no meta kernel (value transforms), the op applies the rule itself (shape and dtype
// kept).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/key_template.h"
#include "core/state_dict.h"

namespace chainconv {

enum class Direction { to_prime, to_hf };
std::string_view direction_name(Direction d);
inline Direction opposite(Direction d) {
  return d == Direction::to_prime ? Direction::to_hf : Direction::to_prime;
}

struct RunOptions {
  // Global index of the first local expert (expert-parallel shard). Stack ops number
  // per-expert keys from here in both directions.
  int64_t expert_offset = 0;
  // Turn warnings (e.g. both variants of an alternate key present) into errors.
  bool strict = false;
};

struct Warning {
  SourcePos pos;  // the op that warned
  std::string message;
  std::string str() const;
};

class Op;

// Sees every step an op takes: used for plans (what each output came from), coverage (ops
// that never fired) and the demo's "what moved" listing. Default: ignore.
class Observer {
 public:
  virtual ~Observer() = default;
  // `op` turned `inputs` into `outputs`; a drop has no outputs, a synthetic no inputs.
  virtual void on_step(const Op& op, const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs) = 0;
  // The step reported next also read `key` without consuming it (a synthetic's `like`, whose
  // dtype and device the new tensor takes). Replay plans need it; most observers do not.
  virtual void on_seen(const Op& op, const std::string& key) {
    (void)op;
    (void)key;
  }
};

// Everything an op needs while it runs.
struct Context {
  StateDict& dict;
  Direction direction;
  const RunOptions& options;
  Bindings scope;  // placeholders fixed by enclosing conditionals (e.g. layer=3)
  std::vector<Warning>* warnings = nullptr;
  Observer* observer = nullptr;

  Context with_scope(Bindings bindings) const;
  // Reports a warning, or throws it as an Error in strict mode.
  void warn(const Op& op, const std::string& message);
  // Reports one step to the observer: `inputs` consumed, `outputs` produced, and `seen`
  // (if any) read without being consumed. Every change an op makes to the dict is a step, so
  // a recorded run can be replayed step by step (replay/replay_plan.h).
  void step(const Op& op, const std::vector<std::string>& inputs,
            const std::vector<std::string>& outputs, const std::string* seen = nullptr);
  // take / insert / move that name the op's position when they fail.
  void move(const Op& op, const std::string& from, std::string to);
  Item take(const Op& op, const std::string& key);
  void insert(const Op& op, std::string key, Item item);
  Error error(const Op& op, const std::string& message) const;
};

// The templates an op reads (consumes, transforms or tests) and writes in one direction.
struct Footprint {
  std::vector<const KeyTemplate*> reads;
  std::vector<const KeyTemplate*> writes;
  std::vector<const KeyTemplate*> tests;  // predicates only look
};

// One recorded step played again on new tensors (replay/replay_plan.h): `in` holds the
// items the step consumed, in the order it reported them, `seen` the item it read without
// consuming (or null), and the op appends what the step produced to `out`, in order. The
// plan has already checked that the inputs have the shapes and dtypes they had when the
// step was recorded, so the decisions the op took then (which keys, which branch, which
// sizes) still hold and only the tensor work is left to do.
struct StepIO {
  Direction direction;
  std::vector<Item>& in;
  const Item* seen;
  std::vector<Item>& out;
};

class Op {
 public:
  explicit Op(SourcePos pos) : pos_(std::move(pos)) {}
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  virtual std::string_view kind() const = 0;
  virtual void forward(Context& ctx) const = 0;   // HF -> prime
  virtual void backward(Context& ctx) const = 0;  // prime -> HF: the inverse of forward
  void run(Context& ctx) const {
    ctx.direction == Direction::to_prime ? forward(ctx) : backward(ctx);
  }
  // Plays one of this op's recorded steps again (see StepIO). The default is for ops that
  // take no steps themselves (a conditional, a piece use): their children do.
  virtual void replay(StepIO& io) const;
  // True when every step only moves its one input to a new name (renames): a plan then
  // aliases the step instead of replaying it.
  virtual bool moves_only() const { return false; }
  virtual void footprint(Direction direction, Footprint& out) const = 0;
  virtual std::vector<const Op*> children() const { return {}; }
  // A choice between op lists (a conditional's then and else), each played in order; empty
  // for ops that are not a choice. The checks treat ops in different branches as exclusive.
  virtual std::vector<std::vector<const Op*>> branches() const { return {}; }
  // Non-empty when backward does not restore exactly what forward consumed: why not.
  virtual std::string lossy() const { return {}; }

  const SourcePos& pos() const { return pos_; }

 private:
  SourcePos pos_;
};

using OpPtr = std::unique_ptr<Op>;
using OpList = std::vector<OpPtr>;

// Plays `ops` in `ctx.direction`: in order forward, inverses in reverse order backward.
void run_ops(const OpList& ops, Context& ctx);

}  // namespace chainconv

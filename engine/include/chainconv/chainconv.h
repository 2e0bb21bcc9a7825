// chainconv: convert model state dicts between the HuggingFace checkpoint layout and a
// trainer's internal ("prime") layout, in place, one model, one layer or one expert shard at
// a time. This is the library's whole public interface; the engine behind it (the YAML chain
// language, the ops, the checks) is described in README.md.
//
// A conversion is a *chain*: a YAML file of small invertible ops written once per model.
// `to_prime` plays it forward (HF -> prime), `to_hf` plays each op's inverse in reverse
// order. Chains ship with the library (share/chainconv/chains) and are found by the
// `model_type` of a model's config.json.
//
// Example: a trainer loads HF weights, trains, and streams each layer back out under HF
// names from an expert-parallel rank that holds experts [rank * local, (rank + 1) * local).
//
//   #include <chainconv/chainconv.h>
//   namespace cc = chainconv::api;
//
//   cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
//   cc::TensorMap weights = load_hf_checkpoint();  // ...mlp.experts.7.gate_proj.weight
//   chain.to_prime(weights);                       // ...mlp.experts.w1 [E, I, H]
//
//   // Per layer: the same call on a map that holds one layer's keys.
//   cc::TensorMap layer = local_layer(3);  // model.layers.3.mlp.experts.w1 [local, I, H]
//   cc::Options options;
//   options.expert_offset = rank * local;  // row 0 of w1 is this global expert
//   chain.to_hf(layer, options);           // model.layers.3.mlp.experts.{o..o+local-1}.*
//
//   try {
//     cc::Chain::from_string(yaml_text, "my_chain.yaml");
//   } catch (const cc::Error& e) {
//     std::cerr << e.what() << "\n";  // "my_chain.yaml:12:5: ...", e.pos() has the parts
//   }
//
// Besides converting, a Chain answers two questions without touching data: `plan` (what
// each output key would be made from: its source keys and every op, with its file:line:col)
// and `check` (chainlint's findings on the chain, optionally on a model's HF layout).
//
// A trainer that converts the same key set over and over (each layer streamed to an
// inference engine at every step) compiles it once with `compile` and replays the result
// (class Replay): the op-by-op key matching is done once, and each later call pays for the
// tensor work alone.
//
// Guarantees:
//
//  * In place. `to_prime` / `to_hf` replace the contents of the map they are given with the
//    converted keys. On success nothing else is in it; on failure (an exception) the map is
//    exactly as it was: a conversion succeeds entirely or changes nothing.
//  * Views, not copies. A renamed tensor is the same at::Tensor (same TensorImpl, same
//    storage); an expert unstacked from a stacked tensor and a part split from a fused one
//    are views of it (select / narrow). Only stacking, concatenating and value transforms
//    allocate. The library never writes into a tensor's data: an input's values are never
//    modified, though a view handed out shares its storage with what went in.
//  * Any device. Tensors stay where they are (CPU or CUDA); ops run on their device.
//  * Shard-local. Options::expert_offset is the global index of the first expert the map
//    holds, in both directions. Stacking requires the indices offset..offset+n-1 with no gap;
//    nothing is ever gathered.
//  * Key-driven. An op acts on the keys that match it and skips the rest, so the same chain
//    converts a whole model, one layer, or a handful of tensors. Keys no op matches pass
//    through untouched.
//  * Errors. Every failure of the library is thrown as chainconv::api::Error (std::bad_alloc
//    excepted): a bad chain with the file:line:col of the offending YAML, a bad state dict
//    (an expert gap, mixed dtypes, a key that would be overwritten) with the position of the
//    op that refused it and the keys involved. Warnings (e.g. both spellings of a key
//    present) are returned; Options::strict throws them as Errors instead.
//  * Threads. A Chain is immutable once loaded: convert different maps with one Chain from
//    several threads at once. A single map must not be shared between threads during a call.
//
// Tensors are taken as the caller's LibTorch holds them. Dtypes this LibTorch cannot compute
// on (FP8 carried as bytes in an integer tensor) move through renames, stacks and splits
// unchanged; a chain that transforms their values would compute on the integers, so keep
// such tensors away from `map` ops.
#pragma once

#include <ATen/core/Tensor.h>
#include <chainconv/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chainconv::api {

// A state dict: parameter name -> tensor, as trainers hold them.
using TensorMap = std::unordered_map<std::string, at::Tensor>;

// One entry of a key set held in the caller's own container (a binding's dict, say): views of
// its key and tensor, valid for the call they are passed to.
struct TensorRef {
  std::string_view key;
  const at::Tensor* tensor = nullptr;
};

// One op that acted on a key on its way to the output, and where the chain says so.
struct PlanStep {
  std::string op;  // the op's kind: "rename", "stack", "split", ...
  Position pos;
};

// Where one output key comes from.
struct PlanEntry {
  std::string key;
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::ScalarType::Undefined;
  // The input keys its data comes from, in natural order ({key} itself when it passes
  // through; empty for a tensor the chain creates).
  std::vector<std::string> sources;
  // The ops that produced it, in the order they ran; empty when it passes through.
  std::vector<PlanStep> steps;

  bool passes_through() const { return steps.empty(); }
};

// What a conversion would do, computed on shapes and dtypes alone (no tensor data is read
// or allocated).
struct CHAINCONV_API Plan {
  std::vector<PlanEntry> entries;  // one per output key, in natural key order
  std::vector<Warning> warnings;

  // nullptr when the conversion has no such output key.
  const PlanEntry* find(const std::string& key) const;
  // One line per entry: "key [shape] dtype <- sources via op (file:line:col), ...".
  std::string str() const;
};

class Replay;
struct Converted;

// Where chains are looked up by model type: the directories of `chains_dirs` in order, then
// default_chains_dir() unless `default_dir` is false. For each model type the first directory
// with a chain listing it wins, so a directory of one's own chains extends (or overrides)
// the shipped ones; a model type listed twice within one directory is an error.
// `target` picks among a model type's chains the one converting to that layout: "prime"
// (chains without `target:`) or another a chain names, e.g. "torchtitan".
struct Lookup {
  std::vector<std::string> chains_dirs;
  bool default_dir = true;
  std::string target = "prime";
};

class CHAINCONV_API Chain {
 public:
  struct Impl;  // the compiled chain, opaque here

  // Loads a chain file; its includes resolve against the file's directory.
  static Chain load(const std::string& path);
  // Loads a chain from YAML text. `name` stands for the file in error positions; includes
  // resolve against `include_dir` ("" means default_chains_dir()).
  static Chain from_string(const std::string& yaml, const std::string& name = "<string>",
                           const std::string& include_dir = "");
  // The chain serving a config.json model_type, from `chains_dir` alone ("" means
  // default_chains_dir()). The Error lists the directories searched and the model types
  // there are chains for.
  static Chain for_model_type(const std::string& model_type, const std::string& chains_dir = "");
  // The same, looked up as `lookup` says (a search path of directories).
  static Chain for_model_type(const std::string& model_type, const Lookup& lookup);

  // Converts `dict` in place (see the guarantees above); returns the warnings.
  std::vector<Warning> to_prime(TensorMap& dict, const Options& options = {}) const;
  std::vector<Warning> to_hf(TensorMap& dict, const Options& options = {}) const;
  std::vector<Warning> convert(TensorMap& dict, Direction direction,
                               const Options& options = {}) const;

  // What convert(dict, direction, options) would produce and from what, computed on meta
  // tensors of dict's shapes and dtypes. `dict` is not changed and its data never read.
  Plan plan(const TensorMap& dict, Direction direction, const Options& options = {}) const;

  // The conversion of dict's key set, worked out from its keys, shapes and dtypes (dict is
  // not changed, its data never read) so that it can be replayed on new tensors of the same
  // keys, shapes and dtypes at the cost of the tensor work alone. See Replay. The chain keeps
  // the last key sets it converted or compiled (convert uses them too): compiling one again
  // costs a look-up.
  Replay compile(const TensorMap& dict, Direction direction, const Options& options = {}) const;
  // The same for a key set held elsewhere; `order`, when given, receives for each of the
  // replay's input_keys() the index in `key_set` of its tensor.
  Replay compile(const std::vector<TensorRef>& key_set, Direction direction,
                 const Options& options = {}, std::vector<uint32_t>* order = nullptr) const;
  // Converts a key set held elsewhere without changing it: compile(key_set, ...) and its
  // replay run on key_set's own tensors, borrowed for the call and checked once. What a
  // binding that updates its own container in place (a Python dict) calls.
  Converted convert(const std::vector<TensorRef>& key_set, Direction direction,
                    const Options& options = {}) const;

  const std::string& file() const;
  const std::vector<std::string>& model_types() const;
  const std::string& description() const;

  // chainlint's checks on the chain's text as loaded: the schema, references and
  // placeholders, flow (conflicting writes, dead ops, predicate precedence). Problems are
  // findings, not exceptions.
  std::vector<Finding> check() const;
  // The same plus, on `hf_layout` (an HF state dict whose shapes and dtypes alone are read;
  // meta tensors will do), the symbolic roundtrips HF -> prime -> HF and prime -> HF -> prime
  // and coverage (ops that never fire, keys that look unconverted).
  std::vector<Finding> check(const TensorMap& hf_layout, const Options& options = {}) const;

  Chain(Chain&&) noexcept;
  Chain& operator=(Chain&&) noexcept;
  Chain(const Chain&);  // cheap: copies share the immutable compiled chain
  Chain& operator=(const Chain&);
  ~Chain();

 private:
  explicit Chain(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// A conversion compiled for one key set: what a trainer that converts the same layer (or
// the same shard) at every step should hold on to. Chain::convert matches every op's key
// templates on every call; a Replay did that once and only stacks, splits and moves:
//
//   cc::Replay to_hf = chain.compile(layer, cc::Direction::to_hf, options);  // once
//   for (;;) {
//     std::vector<at::Tensor> hf = to_hf.run(layer_tensors());  // input_keys() order
//     send(to_hf.output_keys(), hf);
//   }
//
// The guarantees of Chain::convert hold (views not copies, any device, errors as Error,
// the map unchanged on failure). A Replay is valid only for the keys, shapes and dtypes it
// was compiled for: run() checks every input and throws an Error naming the first one that
// differs. It keeps its Chain alive and is immutable: share it between threads freely.
class CHAINCONV_API Replay {
 public:
  struct Impl;

  Direction direction() const;
  // The keys it takes and gives, in lexicographic order.
  const std::vector<std::string>& input_keys() const;
  const std::vector<std::string>& output_keys() const;
  // The warnings of the conversion it was compiled from (with Options::strict, compile threw).
  const std::vector<Warning>& warnings() const;

  // Per output: the index of the input it is, unchanged under the same key (a key no op
  // touched), or -1. What an in-place update of a dict leaves alone.
  const std::vector<int32_t>& passthrough() const;
  // A number no other compiled conversion has: a key for caches of data derived from it.
  uint64_t id() const;

  // inputs[i] is the tensor for input_keys()[i]; returns the tensor for each output_keys().
  std::vector<at::Tensor> run(std::vector<at::Tensor> inputs) const;
  // Converts `dict`, whose keys must be exactly input_keys(), in place.
  void run(TensorMap& dict) const;
  // The same on a key set held elsewhere, left unchanged: its keys must be exactly
  // input_keys(), in any order, and its tensors are borrowed for the call. Returns the tensor
  // for each output_keys(); `order`, when given, receives for each input_keys() the index in
  // `key_set` of its tensor.
  std::vector<at::Tensor> run(const std::vector<TensorRef>& key_set,
                              std::vector<uint32_t>* order = nullptr) const;

  Replay(Replay&&) noexcept;
  Replay& operator=(Replay&&) noexcept;
  Replay(const Replay&);  // cheap: copies share the compiled plan
  Replay& operator=(const Replay&);
  ~Replay();

 private:
  friend class Chain;
  explicit Replay(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// What Chain::convert gives for a key set held elsewhere.
struct Converted {
  Replay replay;  // its output_keys(), passthrough() and warnings() describe `outputs`
  // For each of replay.input_keys(), the index in the key set of its tensor.
  std::vector<uint32_t> order;
  std::vector<at::Tensor> outputs;  // one per replay.output_keys()
};

// Where chains are looked up by default: $CHAINCONV_CHAINS_DIR when set, else the
// share/chainconv/chains directory installed next to this library, else (for a library
// still in the build tree it was built in) the chains/ directory of its source tree; ""
// when none applies (a library copied out of its build tree without its chains).
CHAINCONV_API std::string default_chains_dir();

// The directories `lookup` searches, in order.
CHAINCONV_API std::vector<std::string> search_path(const Lookup& lookup = {});

// The keys of `dict` in natural order, digit runs compared as numbers ("layers.2" before
// "layers.10"): how people and checkpoint indexes list them.
CHAINCONV_API std::vector<std::string> sorted_keys(const TensorMap& dict);

// model_type -> chain file, for every chain in `chains_dir` ("" means default_chains_dir()).
CHAINCONV_API std::vector<std::pair<std::string, std::string>> chains(
    const std::string& chains_dir = "");
// The same over the search path of `lookup`, the first directory serving a type winning.
CHAINCONV_API std::vector<std::pair<std::string, std::string>> chains(const Lookup& lookup);

}  // namespace chainconv::api

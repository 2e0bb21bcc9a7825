// Layouts: a model's HF checkpoint (every tensor's key, shape and dtype) as a function of its
// config.json, read from a data file chains/layouts/<name>.yaml (format in
// chains/layouts/README.md). A layout is a key set for the symbolic checks at full size, and
// with synthetic_bytes a small checkpoint with deterministic values (for tests and the
// demo). Adding a model needs a layout file and configs, no code.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_desc.h"
#include "registry/chain_registry.h"

namespace chainconv {

struct Layout {
  std::string model_type;
  std::vector<TensorSpec> tensors;  // in natural key order
  // A target layout's value conventions: key -> op kinds that must be on the tensor's way
  // (`made_by: [rope_permute]`: its rows are permuted, which no shape shows).
  std::map<std::string, std::vector<std::string>> made_by;
};

// How routed experts are stored in the HF checkpoint: one tensor per expert and projection
// (the canonical layout), or transformers v5's fused experts.gate_up_proj / down_proj.
enum class ExpertLayout { per_expert, fused };

// The layout of the checkpoint `config` describes. model_type is read from the config; a VLM
// config nesting its text fields under text_config is read there as its layout file says.
// The layout file is looked up in the layouts/ directory of each of `chains_dirs` in order
// (the first that serves the model type wins). Throws Error naming the config field when a
// needed field is missing, NotFoundError (listing the directories searched) when no layout
// serves the model type, and Error when `fused` is asked of a model that has no fused layout.
Layout make_layout(const nlohmann::json& config, ExpertLayout experts = ExpertLayout::per_expert,
                   const std::vector<std::string>& chains_dirs = chains_search_path());
Layout make_layout(const nlohmann::json& config, ExpertLayout experts,
                   const std::string& chains_dir);
// The same with the layout file `layout_file` itself, whatever model types it lists.
Layout make_layout_from_file(const std::string& layout_file, const nlohmann::json& config,
                             ExpertLayout experts = ExpertLayout::per_expert);

// The other side: what a chain's forward must make of the layout `config` describes, for the
// target `target` ("prime"), from a layout file that names it (`target: prime`); nullopt when
// no layout file describes that side of the model type.
std::optional<Layout> make_target_layout(
    const nlohmann::json& config, const std::string& target,
    const std::vector<std::string>& chains_dirs = chains_search_path());

// The layout file serving `model_type`; throws NotFoundError as make_layout does.
std::string find_layout_file(const std::string& model_type,
                             const std::vector<std::string>& chains_dirs = chains_search_path());
bool has_fused_layout(const std::string& model_type,
                      const std::vector<std::string>& chains_dirs = chains_search_path());
bool has_fused_layout(const std::string& model_type, const std::string& chains_dir);
// The model types a layout file lists (its `model_types`), read without evaluating it.
std::vector<std::string> layout_model_types(const std::string& layout_file);

// The configs shipped next to each layout: a tiny one (2-4 layers, 4 experts, small dims) for
// tests and the demo, and a full-size one with realistic dims for the symbolic checks. Each is
// looked up in the layouts/ directory of each of `chains_dirs` in order; NotFoundError lists
// the places searched when none has it.
nlohmann::json tiny_config(const std::string& model_type,
                           const std::vector<std::string>& chains_dirs = chains_search_path());
nlohmann::json tiny_config(const std::string& model_type, const std::string& chains_dir);
nlohmann::json full_config(const std::string& model_type,
                           const std::vector<std::string>& chains_dirs = chains_search_path());
nlohmann::json full_config(const std::string& model_type, const std::string& chains_dir);

// The bytes of a synthetic tensor (little-endian, row-major), depending only on (seed, key):
// floating dtypes hold multiples of 1/64 in [-2, 2) (exact in every float dtype, distinct
// enough to tell tensors and elements apart); integers and bytes-only dtypes random bits.
std::vector<uint8_t> synthetic_bytes(const TensorSpec& spec, uint64_t seed);

}  // namespace chainconv

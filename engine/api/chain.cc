// The public Chain: loading, and in-place conversion of a TensorMap through the engine.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/chain_impl.h"
#include "api/guard.h"
#include "aten/dtypes.h"
#include "aten/execute.h"
#include "core/text.h"
#include "program/lower.h"
#include "registry/chain_registry.h"

namespace chainconv::api {

std::vector<TensorSpec> specs_of(const TensorMap& dict) {
  std::vector<TensorSpec> specs;
  specs.reserve(dict.size());
  for (const auto& [key, tensor] : dict) {
    if (!tensor.defined()) throw Error(Position{}, "tensor '" + key + "' is undefined");
    specs.push_back({key, tensor.sizes().vec(), &dtype_of(tensor.scalar_type())});
  }
  return specs;
}

Program lower_map(const Chain::Impl& chain, const TensorMap& dict, Direction direction,
                  const Options& options) {
  return lower(*chain.chain, direction, specs_of(dict), options);
}

std::vector<at::Tensor> inputs_in_order(const Program& program, const TensorMap& dict) {
  std::vector<at::Tensor> inputs;
  inputs.reserve(program.inputs());
  for (uint32_t s = 0; s < program.inputs(); ++s) inputs.push_back(dict.at(program.name(s)));
  return inputs;
}

void replace_contents(TensorMap& dict, const Program& program, std::vector<at::Tensor> outputs) {
  TensorMap tensors;
  tensors.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i)
    tensors.emplace(program.name(program.outputs()[i]), std::move(outputs[i]));
  dict.swap(tensors);
}

Chain::Chain(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Chain::Chain(Chain&&) noexcept = default;
Chain& Chain::operator=(Chain&&) noexcept = default;
Chain::Chain(const Chain&) = default;
Chain& Chain::operator=(const Chain&) = default;
Chain::~Chain() = default;

static std::shared_ptr<const Chain::Impl> compile_text(std::string text, const std::string& name,
                                                       std::string include_dir) {
  auto chain = load_chain_string(text, name, include_dir);
  return std::make_shared<const Chain::Impl>(
      Chain::Impl{std::move(chain), std::move(text), std::move(include_dir)});
}

Chain Chain::load(const std::string& path) {
  return guarded([&] {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw Error(Position{path, 0, 0},
                  "cannot read chain file: " + std::string(std::strerror(errno)));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw Error(Position{path, 0, 0}, "cannot read chain file");
    return Chain(
        compile_text(text.str(), path, std::filesystem::path(path).parent_path().string()));
  });
}

Chain Chain::from_string(const std::string& yaml, const std::string& name,
                         const std::string& include_dir) {
  return guarded([&] {
    return Chain(compile_text(yaml, name,
                              include_dir.empty() ? chainconv::default_chains_dir() : include_dir));
  });
}

Chain Chain::for_model_type(const std::string& model_type, const std::string& chains_dir) {
  if (chains_dir.empty()) return for_model_type(model_type, Lookup{});
  return for_model_type(model_type, Lookup{{chains_dir}, false});
}

Chain Chain::for_model_type(const std::string& model_type, const Lookup& lookup) {
  return guarded(
      [&] { return load(ChainRegistry::scan(search_path(lookup)).chain_for(model_type)); });
}

std::vector<Warning> Chain::convert(TensorMap& dict, Direction direction,
                                    const Options& options) const {
  return guarded([&] {
    Program program = lower_map(*impl_, dict, direction, options);
    replace_contents(dict, program, execute(program, inputs_in_order(program, dict)));
    return program.warnings();
  });
}

std::vector<Warning> Chain::to_prime(TensorMap& dict, const Options& options) const {
  return convert(dict, Direction::to_prime, options);
}

std::vector<Warning> Chain::to_hf(TensorMap& dict, const Options& options) const {
  return convert(dict, Direction::to_hf, options);
}

const std::string& Chain::file() const { return impl_->chain->file; }
const std::vector<std::string>& Chain::model_types() const { return impl_->chain->model_types; }
const std::string& Chain::description() const { return impl_->chain->description; }

std::vector<std::string> sorted_keys(const TensorMap& dict) {
  std::vector<std::string> keys;
  keys.reserve(dict.size());
  for (const auto& entry : dict) keys.push_back(entry.first);
  sort_naturally(keys, [](const std::string& k) -> std::string_view { return k; });
  return keys;
}

std::string default_chains_dir() { return chainconv::default_chains_dir(); }

std::vector<std::string> search_path(const Lookup& lookup) {
  if (lookup.default_dir) return chainconv::chains_search_path(lookup.chains_dirs);
  std::vector<std::string> dirs;
  for (const std::string& dir : lookup.chains_dirs)
    if (!dir.empty()) dirs.push_back(dir);
  return dirs;
}

std::vector<std::pair<std::string, std::string>> chains(const std::string& chains_dir) {
  if (chains_dir.empty()) return chains(Lookup{});
  return chains(Lookup{{chains_dir}, false});
}

std::vector<std::pair<std::string, std::string>> chains(const Lookup& lookup) {
  return guarded([&] {
    ChainRegistry registry = ChainRegistry::scan(search_path(lookup));
    return std::vector<std::pair<std::string, std::string>>(registry.model_types().begin(),
                                                            registry.model_types().end());
  });
}

}  // namespace chainconv::api

// chainconv inspect SRC: every tensor of a checkpoint directory (name, dtype, shape, size),
// a grouped summary with index ranges compressed, like a load report, the dtypes, and the
// model type with the chain a conversion would use.
#include <iostream>
#include <map>
#include <set>

#include "chainconv/commands.h"
#include "chainconv/report_format.h"
#include "core/key_ranges.h"
#include "core/text.h"
#include "io/checkpoint.h"
#include "registry/chain_registry.h"

namespace chainconv::cli {
namespace {

// Keys that differ only in their numeric segments share a signature ("model.layers.#.mlp...").
std::string signature(const std::string& key) {
  std::string sig;
  size_t start = 0;
  while (start <= key.size()) {
    size_t dot = key.find('.', start);
    if (dot == std::string::npos) dot = key.size();
    std::string seg = key.substr(start, dot - start);
    bool number = !seg.empty() && seg.find_first_not_of("0123456789") == std::string::npos;
    sig += (number ? "#" : seg) + ".";
    start = dot + 1;
  }
  return sig;
}

// The chain `convert` would pick for model_type, or why there is none.
std::string chain_line(const std::string& model_type, const std::vector<std::string>& dirs) {
  if (model_type.empty()) return "none (no config.json model_type)";
  try {
    return ChainRegistry::scan(chains_search_path(dirs)).chain_for(model_type);
  } catch (const Error& e) {
    return "none: " + e.message();
  }
}

void inspect(const std::string& dir, const std::vector<std::string>& chains_dirs) {
  Checkpoint ckpt = Checkpoint::open(dir);
  std::vector<std::string> keys;
  for (const auto& [key, loc] : ckpt.tensors()) keys.push_back(key);
  std::sort(keys.begin(), keys.end(),
            [](const auto& a, const auto& b) { return natural_less(a, b); });
  std::string model_type, model_type_error;
  try {
    model_type = read_model_type(dir);
  } catch (const Error& e) {
    model_type_error = e.message();
  }
  std::cout << dir << ": " << (model_type.empty() ? "(no config.json model_type)" : model_type)
            << ", " << ckpt.files().size() << " file" << (ckpt.files().size() == 1 ? "" : "s")
            << ", " << keys.size() << " tensors, " << human_bytes(ckpt.total_bytes()) << "\n";
  size_t width = 0;
  for (const std::string& key : keys) width = std::max(width, key.size());
  struct Group {
    std::vector<std::string> keys;
    std::set<std::string> dtypes, shapes;
    uint64_t bytes = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Group> groups;
  struct DtypeTotal {
    size_t tensors = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, DtypeTotal> by_dtype;
  for (const std::string& key : keys) {
    const TensorEntry& e = *ckpt.locate(key).entry;
    std::cout << "  " << key << std::string(width - key.size() + 2, ' ') << e.dtype->name << " "
              << shape_str(e.shape) << "  " << human_bytes(e.nbytes) << "\n";
    auto [it, inserted] = groups.try_emplace(signature(key));
    if (inserted) order.push_back(it->first);
    it->second.keys.push_back(key);
    it->second.dtypes.insert(std::string(e.dtype->name));
    it->second.shapes.insert(shape_str(e.shape));
    it->second.bytes += e.nbytes;
    DtypeTotal& total = by_dtype[std::string(e.dtype->name)];
    ++total.tensors;
    total.bytes += e.nbytes;
  }
  std::cout << "summary (" << order.size() << " groups):\n";
  for (const std::string& sig : order) {
    const Group& g = groups[sig];
    std::string dtypes, shapes;
    for (const auto& d : g.dtypes) dtypes += (dtypes.empty() ? "" : "|") + d;
    for (const auto& s : g.shapes) shapes += (shapes.empty() ? "" : " | ") + s;
    std::cout << "  " << compress_keys_str(g.keys) << "  x" << g.keys.size() << "  " << dtypes
              << " "
              << (g.shapes.size() <= 3 ? shapes : std::to_string(g.shapes.size()) + " shapes")
              << "  " << human_bytes(g.bytes) << "\n";
  }
  std::cout << "dtypes:";
  const char* separator = " ";
  for (const auto& [dtype, total] : by_dtype) {
    std::cout << separator << dtype << " " << total.tensors << " tensor"
              << (total.tensors == 1 ? "" : "s") << " " << human_bytes(total.bytes);
    separator = ", ";
  }
  std::cout << "\n";
  std::cout << "model_type: "
            << (model_type.empty() ? "none (" + model_type_error + ")" : model_type) << "\n";
  std::cout << "chain: " << chain_line(model_type, chains_dirs) << "\n";
}

}  // namespace

Command add_inspect(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("inspect", "List a checkpoint's tensors and summarise them by group");
  auto src = std::make_shared<std::string>();
  auto chains_dirs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("SRC", *src, "Checkpoint directory")->required();
  add_chains_dir_option(cmd, *chains_dirs);
  return [src, chains_dirs]() {
    inspect(*src, *chains_dirs);
    return 0;
  };
}

}  // namespace chainconv::cli

// chainconv inspect SRC: every tensor of a checkpoint directory (name, dtype, shape, size)
// and a grouped summary with index ranges compressed, like a load report.
#include <iostream>
#include <map>
#include <set>

#include "chainconv/commands.h"
#include "chainconv/report_format.h"
#include "core/key_ranges.h"
#include "core/text.h"
#include "io/checkpoint.h"

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

void inspect(const std::string& dir) {
  Checkpoint ckpt = Checkpoint::open(dir);
  std::vector<std::string> keys;
  for (const auto& [key, loc] : ckpt.tensors()) keys.push_back(key);
  std::sort(keys.begin(), keys.end(),
            [](const auto& a, const auto& b) { return natural_less(a, b); });
  std::string model_type;
  try {
    model_type = read_model_type(dir);
  } catch (const Error&) {
    model_type = "(no config.json model_type)";
  }
  std::cout << dir << ": " << model_type << ", " << ckpt.files().size() << " file"
            << (ckpt.files().size() == 1 ? "" : "s") << ", " << keys.size() << " tensors, "
            << human_bytes(ckpt.total_bytes()) << "\n";
  size_t width = 0;
  for (const std::string& key : keys) width = std::max(width, key.size());
  struct Group {
    std::vector<std::string> keys;
    std::set<std::string> dtypes, shapes;
    uint64_t bytes = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Group> groups;
  std::map<std::string, uint64_t> by_dtype;
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
    by_dtype[std::string(e.dtype->name)] += e.nbytes;
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
  std::cout << "by dtype:";
  for (const auto& [dtype, bytes] : by_dtype)
    std::cout << " " << dtype << " " << human_bytes(bytes);
  std::cout << "\n";
}

}  // namespace

Command add_inspect(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("inspect", "List a checkpoint's tensors and summarise them by group");
  auto src = std::make_shared<std::string>();
  cmd->add_option("SRC", *src, "Checkpoint directory")->required();
  return [src]() {
    inspect(*src);
    return 0;
  };
}

}  // namespace chainconv::cli

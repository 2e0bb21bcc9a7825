#include "io/convert.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/dtypes.h"
#include "core/error.h"
#include "dsl/chain.h"
#include "io/copy_tree.h"
#include "io/fs_util.h"
#include "io/mapped_file.h"
#include "registry/chain_registry.h"

namespace fs = std::filesystem;

namespace chainconv {
namespace {

// Input keys grouped by layer: the keys outside any layer first, then layers in natural order.
std::vector<PlannedGroup> group_inputs(const Checkpoint& source) {
  std::map<std::string, std::vector<std::string>> by_prefix;
  for (const auto& [key, loc] : source.tensors()) by_prefix[layer_group_of(key)].push_back(key);
  std::vector<std::string> prefixes;
  for (const auto& [prefix, keys] : by_prefix) prefixes.push_back(prefix);
  std::sort(prefixes.begin(), prefixes.end(),
            [](const auto& a, const auto& b) { return natural_less(a, b); });
  std::vector<PlannedGroup> groups;
  for (const std::string& prefix : prefixes)
    groups.push_back(PlannedGroup{prefix, by_prefix[prefix], {}, false});
  return groups;
}

// The chain run on one group's inputs, as meta tensors or as views of the mapped files.
GroupTrace run_group(const ConversionPlan& plan, const PlannedGroup& group,
                     const std::vector<const KeyTemplate*>& templates, bool real, StateDict& dict) {
  std::map<std::string, ByteRun> locations;
  for (const std::string& key : group.inputs) {
    const Checkpoint::Location& loc = plan.source.locate(key);
    dict.insert(key, real ? plan.source.load(key) : meta_item(*loc.entry));
    locations[key] = ByteRun{loc.file, loc.entry->offset, loc.entry->nbytes};
  }
  try {
    return trace_group(*plan.chain, plan.direction, plan.run, templates, dict, locations);
  } catch (const Error& e) {
    std::string where =
        group.prefix.empty() ? "the keys outside any layer" : "layer group '" + group.prefix + "'";
    throw Error(e.pos(), e.message() + " (converting " + where + " of " + plan.source.dir() + ")");
  }
}

void report(const ConvertOptions& options, std::string_view stage, size_t tensors_done,
            size_t tensors_total, uint64_t bytes_done, uint64_t bytes_total) {
  if (options.progress)
    options.progress(ConvertProgress{stage, tensors_done, tensors_total, bytes_done, bytes_total});
}

// The offset within a page that most of a copied output's bytes have in their source files
// (-1 for outputs written from memory): kept in the output, the kernel copies whole pages.
int64_t page_phase(const PlannedOutput& out) {
  if (out.computed || !out.runs || out.runs->size() == 0) return -1;
  std::map<uint64_t, uint64_t> bytes_at;
  uint64_t pos = 0;
  for (const ByteRun& run : out.runs->runs()) {
    bytes_at[(run.offset + kPageSize - pos % kPageSize) % kPageSize] += run.length;
    pos += run.length;
  }
  auto best = std::max_element(bytes_at.begin(), bytes_at.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return static_cast<int64_t>(best->first);
}

bool is_weight_file(const std::string& name) {
  for (const char* ext :
       {".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".pkl", ".safetensors"})
    if (name.size() > std::strlen(ext) &&
        name.compare(name.size() - std::strlen(ext), std::string::npos, ext) == 0)
      return true;
  return name == kIndexFile || name == "pytorch_model.bin.index.json";
}

}  // namespace

std::string resolve_chain_file(const std::string& src, const ConvertOptions& options) {
  if (!options.chain_file.empty()) {
    if (!fs::exists(options.chain_file))  // anything but a regular file is refused on reading
      throw Error(options.chain_file + ": no such chain file");
    return options.chain_file;
  }
  const std::string model_type = read_model_type(src);
  ChainRegistry registry =
      ChainRegistry::scan(options.chains_dir.empty() ? default_chains_dir() : options.chains_dir);
  if (!registry.serves(model_type)) {
    std::string known;
    for (const auto& [type, file] : registry.model_types())
      known += (known.empty() ? "" : ", ") + type;
    throw Error((fs::path(src) / "config.json").string() + ": no chain serves model_type '" +
                model_type + "' (known: " + known + "; or pass --chain FILE)");
  }
  return registry.chain_for(model_type);
}

std::string_view ConversionPlan::how(const PlannedOutput& out) const {
  if (out.sources.empty()) return "synthesised";
  if (out.sources.size() > 1) return "stacked";
  const PlannedGroup& group = groups[out.group];
  for (size_t other : group.outputs)
    if (outputs[other].key != out.key && outputs[other].sources.size() == 1 &&
        outputs[other].sources[0] == out.sources[0])
      return "split";
  return "moved";
}

PlanSummary ConversionPlan::summary() const {
  PlanSummary s;
  s.bytes_in = source.total_bytes();
  s.dropped = dropped.size();
  for (const PlannedOutput& out : outputs) {
    std::string_view how_made = how(out);
    if (how_made == "synthesised")
      ++s.synthesised;
    else if (how_made == "stacked")
      ++s.stacked;
    else if (how_made == "split")
      ++s.split;
    else
      ++s.moved;
    s.bytes_out += out.nbytes;
    if (out.computed) {
      ++s.computed;
      s.bytes_computed += out.nbytes;
    } else if (out.runs) {
      s.bytes_copied += out.nbytes;
    }
  }
  return s;
}

ConversionPlan plan_conversion(const std::string& src, const ConvertOptions& options) {
  if (!fs::is_directory(src)) throw Error(src + ": not a directory");
  ConversionPlan plan;
  plan.chain_file = resolve_chain_file(src, options);
  plan.chain = load_chain_file(plan.chain_file);
  plan.direction = options.direction;
  plan.run = options.run;
  plan.source = Checkpoint::open(src, options.cancelled);
  plan.groups = group_inputs(plan.source);
  const auto templates = value_map_templates(*plan.chain, plan.direction);
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    if (options.cancelled && options.cancelled()) throw Error("interrupted");
    PlannedGroup& group = plan.groups[g];
    StateDict dict;
    GroupTrace trace = run_group(plan, group, templates, /*real=*/false, dict);
    group.needs_values = trace.needs_values();
    for (TracedOutput& t : trace.outputs) {
      PlannedOutput out;
      out.key = t.key;
      out.dtype = dtype_of(t.item);
      out.shape = t.item.tensor.sizes().vec();
      out.nbytes = static_cast<uint64_t>(t.item.tensor.numel()) * t.item.tensor.element_size();
      out.sources = std::move(t.sources);
      out.ops = std::move(t.ops);
      out.computed = t.computed || (!t.runs && !out.sources.empty());
      if (!out.computed) out.runs = std::move(t.runs);
      out.group = g;
      plan.outputs.push_back(std::move(out));
    }
    plan.dropped.insert(trace.dropped.begin(), trace.dropped.end());
    plan.warnings.insert(plan.warnings.end(), trace.warnings.begin(), trace.warnings.end());
  }
  std::sort(
      plan.outputs.begin(), plan.outputs.end(),
      [](const PlannedOutput& a, const PlannedOutput& b) { return natural_less(a.key, b.key); });
  for (size_t i = 0; i < plan.outputs.size(); ++i) {
    if (i > 0 && plan.outputs[i].key == plan.outputs[i - 1].key)
      throw Error(src + ": two layer groups both produce '" + plan.outputs[i].key +
                  "' (the chain is not layer-local for this checkpoint)");
    plan.groups[plan.outputs[i].group].outputs.push_back(i);
  }
  return plan;
}

void write_conversion(const ConversionPlan& plan, const std::string& dir,
                      const ConvertOptions& options) {
  auto check = [&] {
    if (options.cancelled && options.cancelled()) throw Error("interrupted");
  };
  std::vector<std::shared_ptr<MappedFile>> sources;
  for (size_t i = 0; i < plan.source.files().size(); ++i) sources.push_back(plan.source.mapped(i));
  std::vector<OutputTensor> specs;
  uint64_t bytes_total = 0;
  for (const PlannedOutput& out : plan.outputs) {
    specs.push_back({out.key, out.dtype, out.shape, out.nbytes, page_phase(out)});
    bytes_total += out.nbytes;
  }
  SafetensorsWriter writer(dir, std::move(specs), options.max_shard_size, check,
                           WriterSettings{options.copy_threads, options.sync_to_disk});
  const auto templates = value_map_templates(*plan.chain, plan.direction);
  const std::string_view stage = options.progress_stage;
  report(options, stage, 0, plan.outputs.size(), 0, bytes_total);
  writer.on_progress([&](size_t tensors, uint64_t bytes) {
    report(options, stage, tensors, plan.outputs.size(), bytes, bytes_total);
  });
  for (const PlannedGroup& group : plan.groups) {
    check();
    StateDict values;
    if (group.needs_values) run_group(plan, group, templates, /*real=*/true, values);
    for (size_t index : group.outputs) {
      const PlannedOutput& out = plan.outputs[index];
      if (!out.computed && out.runs) {
        writer.copy(out.key, *out.runs, sources);  // queued: copied in the background
      } else if (!out.computed) {
        writer.zero(out.key);  // synthesised: the chain leaves it uninitialised
      } else {
        const Item* item = values.find(out.key);
        if (!item || dtype_of(*item) != out.dtype || item->tensor.sizes().vec() != out.shape)
          throw Error("internal: '" + out.key +
                      "' differs between the plan and the conversion of its values");
        writer.write(out.key, *item);
      }
    }
    if (group.needs_values)
      for (const std::string& key : group.inputs) {
        const Checkpoint::Location& loc = plan.source.locate(key);
        sources[loc.file]->release(loc.entry->offset, loc.entry->nbytes);
      }
  }
  writer.finish();
}

ConvertResult convert_checkpoint(const std::string& src, const std::string& dst,
                                 const ConvertOptions& options) {
  if (!fs::is_directory(src)) throw Error(src + ": not a directory");
  check_destination(src, dst, options.force);
  ConversionPlan plan = plan_conversion(src, options);
  TempDir tmp = TempDir::beside(dst);
  write_conversion(plan, tmp.path(), options);

  ConvertResult result;
  auto check = [&] {
    if (options.cancelled && options.cancelled()) throw Error("interrupted");
  };
  CopyTreeReport copied;
  for (const fs::directory_entry& entry : fs::directory_iterator(src)) {
    const std::string name = entry.path().filename().string();
    if (is_weight_file(name) && entry.is_regular_file()) {
      bool ours =
          name == kIndexFile || std::any_of(plan.source.files().begin(), plan.source.files().end(),
                                            [&](const SafetensorsHeader& h) {
                                              return fs::path(h.path).filename() == name;
                                            });
      if (!ours)
        result.skipped.push_back(name +
                                 " (weights not in the safetensors checkpoint; not converted)");
    } else {
      copy_tree(entry.path(), fs::path(tmp.path()) / name, src, {options.sync_to_disk, check},
                copied);
    }
  }
  result.copied_files = std::move(copied.copied);
  result.skipped.insert(result.skipped.end(), copied.skipped.begin(), copied.skipped.end());
  std::sort(result.copied_files.begin(), result.copied_files.end());

  if (options.verify) {
    result.verify = verify_conversion(plan, tmp.path(), options);
    if (!result.verify->ok()) {
      const auto& failures = result.verify->failures;
      std::string message = "verification failed: " + std::to_string(failures.size()) +
                            " difference(s) the chain does not explain: ";
      for (size_t i = 0; i < failures.size() && i < 3; ++i)
        message += (i ? "; " : "") + failures[i];
      throw Error(message);
    }
  }
  result.summary = plan.summary();
  result.warnings = plan.warnings;
  for (const auto& entry : fs::directory_iterator(tmp.path()))
    if (entry.path().extension() == ".safetensors") ++result.shards;
  tmp.commit(dst, options.force, options.sync_to_disk, check);
  return result;
}

}  // namespace chainconv

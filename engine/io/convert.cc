#include "io/convert.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/read_file.h"
#include "core/text.h"
#include "dsl/chain.h"
#include "io/compute.h"
#include "io/copy_tree.h"
#include "io/file_executor.h"
#include "io/fs_util.h"
#include "io/mapped_file.h"
#include "program/lineage.h"
#include "program/lower.h"
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
    groups.push_back(PlannedGroup{prefix, by_prefix[prefix], {}, false, nullptr});
  return groups;
}

// How an output was made, by the kinds of the steps on its way (see Made).
Made how_made(const Program& program, const Lineage& lineage, const std::string& key) {
  if (lineage.created) return Made::synthesised;
  if (lineage.computed) return Made::transformed;
  bool select = false, narrow = false, stack = false, concat = false, renamed = false,
       reshaped = false;
  for (size_t i : lineage.steps) {
    const Step& step = program.step(i);
    switch (step.kind) {
      case StepKind::stack:
        stack = true;
        break;
      case StepKind::concat:
        concat = true;
        break;
      case StepKind::copy:
        reshaped = true;
        break;
      case StepKind::view:
        if (step.view.kind == ViewSpec::Kind::select)
          select = true;
        else if (step.view.kind == ViewSpec::Kind::narrow)
          narrow = true;
        else if (step.view.kind == ViewSpec::Kind::squeeze)
          renamed = true;  // a squeeze changes the shape, never the bytes
        else
          reshaped = true;
        break;
      default:
        break;
    }
  }
  if (reshaped) return Made::reshaped;
  if ((stack || concat) && (select || narrow)) return Made::restacked;
  if (stack) return Made::stacked;
  if (concat) return Made::concatenated;
  if (select) return Made::unstacked;
  if (narrow) return Made::split;
  // Moves alone: unchanged when they leave the key as it came in.
  if (!renamed && lineage.sources.size() == 1 && program.name(lineage.sources[0]) == key)
    return Made::unchanged;
  return Made::moved;
}

// The chain lowered on one group's inputs (their headers).
Program lower_group(const ConversionPlan& plan, const PlannedGroup& group) {
  std::vector<TensorSpec> specs;
  specs.reserve(group.inputs.size());
  for (const std::string& key : group.inputs) {
    const TensorEntry& entry = *plan.source.locate(key).entry;
    specs.push_back({key, entry.shape, entry.dtype});
  }
  try {
    return lower(*plan.chain, plan.direction, std::move(specs), plan.run);
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

std::string layer_group_of(const std::string& key) {
  size_t pos = 0;
  while (true) {
    size_t end = key.find('.', pos);
    if (end == std::string::npos) return "";
    if (key.compare(pos, end - pos, "layers") == 0) {
      size_t next = key.find('.', end + 1);
      if (next == std::string::npos) return "";
      bool digits = next > end + 1;
      for (size_t i = end + 1; i < next; ++i) digits &= key[i] >= '0' && key[i] <= '9';
      if (digits) return key.substr(0, next + 1);
    }
    pos = end + 1;
  }
}

std::string resolve_chain_file(const std::string& src, const ConvertOptions& options) {
  if (!options.chain_file.empty()) {
    if (!fs::exists(options.chain_file))  // anything but a regular file is refused on reading
      throw Error(options.chain_file + ": no such chain file");
    return options.chain_file;
  }
  const std::string model_type = read_model_type(src);
  const ChainRegistry registry =
      ChainRegistry::scan(chains_search_path(options.chains_dirs), options.target);
  if (!registry.serves(model_type))
    throw NotFoundError(NotFoundError::Kind::chain, (fs::path(src) / "config.json").string() +
                                                        ": " + registry.not_found(model_type));
  return registry.chain_for(model_type);
}

std::string_view made_name(Made made) {
  switch (made) {
    case Made::unchanged:
      return "unchanged";
    case Made::moved:
      return "moved";
    case Made::split:
      return "split";
    case Made::unstacked:
      return "unstacked";
    case Made::stacked:
      return "stacked";
    case Made::restacked:
      return "restacked";
    case Made::concatenated:
      return "concatenated";
    case Made::synthesised:
      return "synthesised";
    case Made::transformed:
      return "transformed";
    case Made::reshaped:
      return "reshaped";
  }
  return "?";
}

size_t PlanSummary::outputs() const {
  size_t n = 0;
  for (size_t count : made) n += count;
  return n;
}

PlanSummary ConversionPlan::summary() const {
  PlanSummary s;
  s.bytes_in = source.total_bytes();
  s.dropped = dropped.size();
  for (const PlannedOutput& out : outputs) {
    ++s.made[static_cast<size_t>(out.how)];
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
  // The ${config.X} values a chain reads are the checkpoint's own (verify reads the copy).
  const fs::path config = fs::path(src) / "config.json";
  if (plan.run.config.empty() && fs::is_regular_file(config))
    plan.run.config = read_regular_file(config.string(), kMaxTextFileSize, "config.json");
  plan.source = Checkpoint::open(src, options.cancelled);
  plan.groups = group_inputs(plan.source);
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    if (options.cancelled && options.cancelled()) throw Error("interrupted");
    PlannedGroup& group = plan.groups[g];
    auto program = std::make_shared<const Program>(lower_group(plan, group));
    std::vector<ByteRun> locations;
    locations.reserve(program->inputs());
    for (uint32_t s = 0; s < program->inputs(); ++s) {
      const Checkpoint::Location& loc = plan.source.locate(program->name(s));
      locations.push_back(ByteRun{loc.file, loc.entry->offset, loc.entry->nbytes});
    }
    const std::vector<OutputBytes> bytes = output_bytes(*program, locations);
    std::vector<bool> used(program->inputs(), false);
    for (size_t k = 0; k < program->outputs().size(); ++k) {
      const uint32_t slot = program->outputs()[k];
      const TensorDesc& d = program->desc(slot);
      const Lineage lineage = lineage_of(*program, slot);
      PlannedOutput out;
      out.key = program->name(slot);
      out.dtype = std::string(d.dtype->name);
      out.shape = d.shape;
      out.nbytes = d.nbytes();
      for (uint32_t source : lineage.sources) {
        out.sources.push_back(program->name(source));
        used[source] = true;
      }
      std::sort(out.sources.begin(), out.sources.end(),
                [](const auto& a, const auto& b) { return natural_less(a, b); });
      out.ops = ops_of(*program, lineage.steps);
      out.how = how_made(*program, lineage, out.key);
      out.computed = bytes[k].from == OutputBytes::From::computed;
      if (bytes[k].from == OutputBytes::From::runs) out.runs = bytes[k].runs;
      group.needs_values |= out.computed;
      out.group = g;
      out.index = k;
      plan.outputs.push_back(std::move(out));
    }
    // Inputs that a drop step removed and no output is made from.
    for (const Step& step : program->steps()) {
      if (step.kind != StepKind::drop) continue;
      for (uint32_t source : lineage_of(*program, program->operand(step, 0)).sources)
        if (!used[source]) plan.dropped.emplace(program->name(source), step.op);
    }
    plan.warnings.insert(plan.warnings.end(), program->warnings().begin(),
                         program->warnings().end());
    group.program = std::move(program);
  }
  sort_naturally(plan.outputs, [](const PlannedOutput& o) -> std::string_view { return o.key; });
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
  const std::string_view stage = options.progress_stage;
  report(options, stage, 0, plan.outputs.size(), 0, bytes_total);
  writer.on_progress([&](size_t tensors, uint64_t bytes) {
    report(options, stage, tensors, plan.outputs.size(), bytes, bytes_total);
  });
  for (const PlannedGroup& group : plan.groups) {
    check();
    std::vector<size_t> computed;  // indices among the group program's outputs
    for (size_t index : group.outputs) {
      const PlannedOutput& out = plan.outputs[index];
      if (out.computed) {
        computed.push_back(out.index);
      } else if (out.runs) {
        writer.copy(out.key, *out.runs, sources);  // queued: copied in the background
      } else {
        writer.zero(out.key);  // synthesised: the chain leaves it uninitialised
      }
    }
    if (computed.empty()) continue;
    const Program& program = *group.program;
    std::vector<const uint8_t*> inputs;
    for (uint32_t s = 0; s < program.inputs(); ++s) {
      const Checkpoint::Location& loc = plan.source.locate(program.name(s));
      inputs.push_back(sources[loc.file]->data() + loc.entry->offset);
    }
    compute_backend().run(program, inputs, computed,
                          [&](size_t k, const void* data, uint64_t nbytes) {
                            const uint32_t slot = program.outputs()[k];
                            if (nbytes != program.desc(slot).nbytes())
                              throw Error("internal: '" + program.name(slot) +
                                          "' differs between the plan and its computed values");
                            writer.write(program.name(slot), data, nbytes);
                          });
    for (uint32_t s = 0; s < program.inputs(); ++s) {
      const Checkpoint::Location& loc = plan.source.locate(program.name(s));
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

// --verify: convert the result back and compare it with the source, byte for byte,
// accounting for what the chain declares it does not restore.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/key_ranges.h"
#include "dsl/chain.h"
#include "io/compare_bytes.h"
#include "io/convert.h"
#include "io/fs_util.h"
#include "io/mapped_file.h"

namespace chainconv {

static std::string op_where(const Op* op) {
  return std::string(op->kind()) + " at " + op->pos().str();
}

namespace {

bool same_bytes(const Checkpoint& a, const std::string& key_a, const Checkpoint& b,
                const std::string& key_b) {
  const Checkpoint::Location& la = a.locate(key_a);
  const Checkpoint::Location& lb = b.locate(key_b);
  if (la.entry->dtype != lb.entry->dtype || la.entry->shape != lb.entry->shape) return false;
  auto fa = a.mapped(la.file), fb = b.mapped(lb.file);
  return same_file_bytes(*fa, la.entry->offset, *fb, lb.entry->offset, la.entry->nbytes);
}

std::string describe(const TensorEntry& e) {
  std::string s = std::string(e.dtype->name) + " [";
  for (size_t i = 0; i < e.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(e.shape[i]);
  return s + "]";
}

// The lossy ops (with their reasons) on the way from `key` in the source to the output and back.
std::string lossy_reasons(const ConversionPlan& forward, const ConversionPlan& back,
                          const std::string& key) {
  std::vector<const Op*> ops;
  std::vector<std::string> prime_keys;
  for (const PlannedOutput& out : forward.outputs)
    if (std::find(out.sources.begin(), out.sources.end(), key) != out.sources.end()) {
      ops.insert(ops.end(), out.ops.begin(), out.ops.end());
      prime_keys.push_back(out.key);
    }
  for (const PlannedOutput& out : back.outputs)
    if (out.key == key) ops.insert(ops.end(), out.ops.begin(), out.ops.end());
  // By text: the two directions load the chain apart, so one op is two objects.
  std::string reasons;
  std::set<std::string> seen;
  for (const Op* op : ops) {
    if (op->lossy().empty()) continue;
    std::string reason = op->lossy() + " [" + op_where(op) + "]";
    if (seen.insert(reason).second) reasons += (reasons.empty() ? "" : "; ") + reason;
  }
  return reasons;
}

// The tensors of a checkpoint by position: which tensor holds a byte of a file.
class Regions {
 public:
  explicit Regions(const Checkpoint& ckpt) : files_(ckpt.files().size()) {
    for (size_t f = 0; f < ckpt.files().size(); ++f)
      for (const TensorEntry& e : ckpt.files()[f].tensors)
        if (e.nbytes > 0) files_[f].push_back(&e);  // sorted by offset, no overlaps
  }

  // The tensor holding byte `offset` of file `file`, or nullptr.
  const TensorEntry* at(size_t file, uint64_t offset) const {
    const auto& entries = files_.at(file);
    auto it = std::upper_bound(entries.begin(), entries.end(), offset,
                               [](uint64_t o, const TensorEntry* e) { return o < e->offset; });
    if (it == entries.begin()) return nullptr;
    const TensorEntry* e = *(it - 1);
    return offset < e->offset + e->nbytes ? e : nullptr;
  }

  // Adds the bytes of `run` to `drawn`, per tensor; false if any lies outside `allowed`.
  bool attribute(const ByteRun& run, const std::set<std::string>& allowed,
                 std::map<std::string, uint64_t>& drawn) const {
    for (uint64_t pos = run.offset, end = run.offset + run.length; pos < end;) {
      const TensorEntry* e = at(run.source, pos);
      if (!e || !allowed.count(e->key)) return false;
      const uint64_t n = std::min(end, e->offset + e->nbytes) - pos;
      drawn[e->key] += n;
      pos += n;
    }
    return true;
  }

 private:
  std::vector<std::vector<const TensorEntry*>> files_;
};

// Where the bytes of `out` (an output of converting back) lie in the original source:
// its runs in the converted files, mapped through the forward plan's runs of each converted
// tensor they fall in. nullopt where a value was computed rather than moved.
std::optional<ByteRuns> source_runs(const ConversionPlan& forward,
                                    const std::map<std::string, size_t>& forward_index,
                                    const Regions& converted, const PlannedOutput& out) {
  if (out.computed || !out.runs) return std::nullopt;
  ByteRuns composed;
  for (const ByteRun& run : out.runs->runs()) {
    for (uint64_t pos = run.offset, end = run.offset + run.length; pos < end;) {
      const TensorEntry* e = converted.at(run.source, pos);
      if (!e) return std::nullopt;
      auto index = forward_index.find(e->key);
      if (index == forward_index.end()) return std::nullopt;
      const PlannedOutput& made = forward.outputs[index->second];
      if (made.computed || !made.runs || made.runs->size() != e->nbytes) return std::nullopt;
      const uint64_t n = std::min(end, e->offset + e->nbytes) - pos;
      composed.append(made.runs->slice(pos - e->offset, pos - e->offset + n));
      pos += n;
    }
  }
  return composed;
}

// Are the bytes of `key` in `result` the bytes `runs` name in `source`?
bool same_as_runs(const Checkpoint& result, const std::string& key, const ByteRuns& runs,
                  const Checkpoint& source) {
  const Checkpoint::Location& loc = result.locate(key);
  if (runs.size() != loc.entry->nbytes) return false;
  auto file = result.mapped(loc.file);
  uint64_t at = loc.entry->offset;
  for (const ByteRun& run : runs.runs()) {
    if (!same_file_bytes(*file, at, *source.mapped(run.source), run.offset, run.length))
      return false;
    at += run.length;
  }
  return true;
}

}  // namespace

VerifyReport verify_conversion(const ConversionPlan& plan, const std::string& converted,
                               const ConvertOptions& options) {
  ConvertOptions back_options = options;
  back_options.direction = opposite(plan.direction);
  back_options.chain_file = plan.chain_file;
  back_options.verify = false;
  back_options.progress_stage = "verify";
  back_options.sync_to_disk = false;  // read back once and deleted: never needs the disk
  ConversionPlan back = plan_conversion(converted, back_options);
  TempDir tmp = TempDir::beside(converted + ".verify");
  write_conversion(back, tmp.path(), back_options);
  Checkpoint result = Checkpoint::open(tmp.path());
  const Checkpoint& source = plan.source;

  VerifyReport report;
  std::vector<std::string> missing;  // source keys the roundtrip does not give back by name
  for (const auto& [key, loc] : source.tensors()) {
    if (options.cancelled && options.cancelled()) throw Error("interrupted");
    ++report.tensors_checked;
    std::string problem;
    if (result.tensors().count(key)) {
      if (same_bytes(source, key, result, key)) continue;
      const TensorEntry& r = *result.locate(key).entry;
      problem = describe(*loc.entry) == describe(r)
                    ? "values differ after the roundtrip"
                    : "comes back as " + describe(r) + " (was " + describe(*loc.entry) + ")";
    } else if (auto d = plan.dropped.find(key); d != plan.dropped.end()) {
      report.lossy.push_back(key + ": dropped (" + op_where(d->second) + ")");
      continue;
    } else {
      missing.push_back(key);
      continue;
    }
    std::string reasons = lossy_reasons(plan, back, key);
    (reasons.empty() ? report.failures : report.lossy)
        .push_back(key + ": " + problem + (reasons.empty() ? "" : " (" + reasons + ")"));
  }

  // Keys that come back under other names (an alternate name, a fused layout coming back
  // per expert): each new key's bytes, followed through both conversions, must be bytes of
  // missing source keys, equal to them, and together they must cover those keys exactly.
  Regions source_regions(source), converted_regions(back.source);
  std::map<std::string, size_t> forward_index;
  for (size_t i = 0; i < plan.outputs.size(); ++i) forward_index[plan.outputs[i].key] = i;
  std::map<std::string, uint64_t> covered;
  std::map<std::string, std::vector<std::string>> comes_back_as;
  const std::set<std::string> missing_set(missing.begin(), missing.end());
  for (const auto& [key, loc] : result.tensors()) {
    if (source.tensors().count(key)) continue;
    std::optional<ByteRuns> runs;
    for (const PlannedOutput& out : back.outputs)
      if (out.key == key) runs = source_runs(plan, forward_index, converted_regions, out);
    bool explained = runs.has_value() && same_as_runs(result, key, *runs, source);
    std::map<std::string, uint64_t> drawn;
    if (explained)
      for (const ByteRun& run : runs->runs())
        explained &= source_regions.attribute(run, missing_set, drawn);
    if (explained) {
      for (const auto& [from, bytes] : drawn) {
        covered[from] += bytes;
        comes_back_as[from].push_back(key);
      }
      continue;
    }
    std::string reasons = lossy_reasons(plan, back, key);
    (reasons.empty() ? report.failures : report.lossy)
        .push_back(key + ": not in the source but produced by the roundtrip" +
                   (reasons.empty() ? "" : " (" + reasons + ")"));
  }
  for (const std::string& key : missing) {
    if (covered[key] == source.locate(key).entry->nbytes) {
      report.lossy.push_back(key + ": comes back as " + compress_keys_str(comes_back_as[key]) +
                             " (the canonical layout)");
      continue;
    }
    std::string reasons = lossy_reasons(plan, back, key);
    (reasons.empty() ? report.failures : report.lossy)
        .push_back(key + ": missing after the roundtrip" +
                   (reasons.empty() ? "" : " (" + reasons + ")"));
  }
  return report;
}

}  // namespace chainconv

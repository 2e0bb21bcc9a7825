// Chain::plan: the lineage of each output in the step program of the dict's key set.
#include <algorithm>
#include <sstream>

#include "api/chain_impl.h"
#include "api/guard.h"
#include "aten/dtypes.h"
#include "core/text.h"
#include "ops/op.h"
#include "program/lineage.h"

namespace chainconv::api {

Plan Chain::plan(const TensorMap& dict, Direction direction, const Options& options) const {
  return guarded([&] {
    const Program program = lower_map(*impl_, dict, direction, options);
    Plan plan;
    plan.warnings = program.warnings();
    for (uint32_t slot : program.outputs()) {
      const TensorDesc& d = program.desc(slot);
      PlanEntry entry{program.name(slot), d.shape, storage_type(*d.dtype), {}, {}};
      const Lineage lineage = lineage_of(program, slot);
      for (uint32_t source : lineage.sources) entry.sources.push_back(program.name(source));
      std::sort(entry.sources.begin(), entry.sources.end(),
                [](const auto& a, const auto& b) { return natural_less(a, b); });
      for (const Op* op : ops_of(program, lineage.steps))
        entry.steps.push_back({std::string(op->kind()), op->pos()});
      plan.entries.push_back(std::move(entry));
    }
    sort_naturally(plan.entries, [](const PlanEntry& e) -> std::string_view { return e.key; });
    return plan;
  });
}

const PlanEntry* Plan::find(const std::string& key) const {
  for (const PlanEntry& entry : entries)
    if (entry.key == key) return &entry;
  return nullptr;
}

std::string Plan::str() const {
  std::ostringstream out;
  for (const PlanEntry& e : entries) {
    out << e.key << " " << shape_str(e.shape) << " " << c10::toString(e.dtype);
    if (e.passes_through()) {
      out << " (unchanged)\n";
      continue;
    }
    out << " <-";
    for (size_t i = 0; i < e.sources.size(); ++i) out << (i ? ", " : " ") << e.sources[i];
    out << " via";
    for (size_t i = 0; i < e.steps.size(); ++i)
      out << (i ? "," : "") << " " << e.steps[i].op << " (" << e.steps[i].pos.str() << ")";
    out << "\n";
  }
  for (const Warning& w : warnings) out << w.str() << "\n";
  return out.str();
}

}  // namespace chainconv::api

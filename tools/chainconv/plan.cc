// chainconv plan SRC --to prime|hf: what a conversion would do, from the headers alone. For
// each output tensor: its source keys, what the step program did to it (io/convert.h Made:
// moved, stacked, restacked, unstacked, split, ...), the ops and chain positions that made
// it, its shape and dtype.
#include <iostream>
#include <nlohmann/json.hpp>

#include "chainconv/commands.h"
#include "chainconv/report_format.h"
#include "core/expert_offset.h"
#include "core/key_ranges.h"
#include "core/params.h"
#include "io/convert.h"

namespace chainconv::cli {
namespace {

struct PlanArgs {
  std::string src, chain, format = "text";
  std::vector<std::string> chains_dirs, sets;
  std::string hf_experts;
  Direction direction = Direction::to_prime;
  DirectionArgs to;
  int64_t expert_offset = 0;
};

void print_text(const ConversionPlan& plan, const PlanArgs& args) {
  std::cout << "plan: " << args.src << " " << direction_name(plan.direction) << " with "
            << plan.chain_file << " (headers only; nothing is read or written)\n";
  for (const PlannedOutput& out : plan.outputs) {
    std::cout << out.key << "  " << out.dtype << " " << shape_str(out.shape) << "  "
              << made_name(out.how);
    if (out.how == Made::unchanged) {
      std::cout << "\n";
      continue;
    }
    if (!out.sources.empty()) std::cout << " <- " << compress_keys_str(out.sources);
    std::cout << "\n";
    for (const Op* op : out.ops) std::cout << "    " << op_text(*op) << "\n";
  }
  for (const auto& [key, op] : plan.dropped)
    std::cout << key << "  dropped by " << op_text(*op) << "\n";
  const PlanSummary s = plan.summary();
  std::cout << "summary: " << plan.outputs.size() << " tensors out: " << made_counts(s) << "; "
            << human_bytes(s.bytes_in) << " in, " << human_bytes(s.bytes_out) << " out ("
            << human_bytes(s.bytes_copied) << " copied as bytes, " << human_bytes(s.bytes_computed)
            << " computed)\n";
  for (const Warning& w : plan.warnings) std::cout << w.str() << "\n";
}

nlohmann::ordered_json op_json(const Op& op) {
  return {{"op", std::string(op.kind())},
          {"file", op.pos().file},
          {"line", op.pos().line},
          {"col", op.pos().col}};
}

void print_json(const ConversionPlan& plan, const PlanArgs& args) {
  nlohmann::ordered_json doc;
  doc["source"] = args.src;
  doc["direction"] = std::string(direction_name(plan.direction));
  doc["chain"] = plan.chain_file;
  doc["expert_offset"] = plan.run.expert_offset;
  doc["tensors"] = nlohmann::ordered_json::array();
  for (const PlannedOutput& out : plan.outputs) {
    nlohmann::ordered_json t;
    t["key"] = out.key;
    t["dtype"] = out.dtype;
    t["shape"] = out.shape;
    t["bytes"] = out.nbytes;
    t["how"] = std::string(made_name(out.how));
    t["transformed"] = out.computed;
    t["sources"] = out.sources;
    t["ops"] = nlohmann::ordered_json::array();
    for (const Op* op : out.ops) t["ops"].push_back(op_json(*op));
    doc["tensors"].push_back(std::move(t));
  }
  doc["dropped"] = nlohmann::ordered_json::array();
  for (const auto& [key, op] : plan.dropped)
    doc["dropped"].push_back({{"key", key}, {"by", op_json(*op)}});
  const PlanSummary s = plan.summary();
  nlohmann::ordered_json summary;
  summary["tensors"] = plan.outputs.size();
  for (Made how : kAllMade) summary[std::string(made_name(how))] = s.of(how);
  summary["dropped"] = s.dropped;
  summary["bytes_in"] = s.bytes_in;
  summary["bytes_out"] = s.bytes_out;
  summary["bytes_copied"] = s.bytes_copied;
  summary["bytes_computed"] = s.bytes_computed;
  doc["summary"] = std::move(summary);
  doc["warnings"] = nlohmann::ordered_json::array();
  for (const Warning& w : plan.warnings) doc["warnings"].push_back(w.str());
  std::cout << doc.dump(2) << "\n";
}

}  // namespace

Command add_plan(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "plan", "Show what converting a checkpoint would do, reading headers only");
  auto args = std::make_shared<PlanArgs>();
  cmd->add_option("SRC", args->src, "Checkpoint directory")->required();
  add_direction_option(cmd, args->to);
  cmd->add_option("--chain", args->chain,
                  "Chain file (default: the registered chain for config.json's model_type)");
  cmd->add_option("--expert-offset", args->expert_offset, "Global index of the first local expert");
  cmd->add_option("--format", args->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  add_chains_dir_option(cmd, args->chains_dirs);
  add_param_options(cmd, args->sets, args->hf_experts);
  return [args]() {
    check_expert_offset(args->expert_offset);
    ConvertOptions options;
    args->direction = resolve_direction(args->to, options.target);
    options.direction = args->direction;
    options.chain_file = args->chain;
    options.chains_dirs = args->chains_dirs;
    options.run.expert_offset = args->expert_offset;
    options.run.params = param_assignments(args->sets, args->hf_experts);
    ConversionPlan plan = plan_conversion(args->src, options);
    if (args->format == "json")
      print_json(plan, *args);
    else
      print_text(plan, *args);
    return 0;
  };
}

}  // namespace chainconv::cli

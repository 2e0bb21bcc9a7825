#include "chainconv/report_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace chainconv::cli {

std::string human_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 5) {
    value /= 1000;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

std::string op_text(const Op& op) { return std::string(op.kind()) + " at " + op.pos().str(); }

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else if (s >= 60)
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%lds", s);
  return text;
}

void add_direction_option(CLI::App* cmd, DirectionArgs& args) {
  cmd->add_option("--to", args.to,
                  "Layout to write: prime (HF -> prime), hf (back to HF), or another chain "
                  "target such as torchtitan (HF -> torchtitan)")
      ->required();
  cmd->add_option("--target", args.target,
                  "The chain target: which trainer layout the chain converts to or, with "
                  "--to hf, from (default prime)");
}

Direction resolve_direction(const DirectionArgs& args, std::string& target) {
  std::string to = args.to;
  std::transform(to.begin(), to.end(), to.begin(), [](unsigned char c) { return std::tolower(c); });
  if (to == "hf") {
    target = args.target.empty() ? "prime" : args.target;
    return Direction::to_hf;
  }
  if (!args.target.empty() && args.target != to)
    throw Error("--to " + to + " and --target " + args.target +
                " name two targets (--target is for --to hf)");
  target = to;
  return Direction::to_prime;
}

void add_param_options(CLI::App* cmd, std::vector<std::string>& sets, std::string& hf_experts) {
  cmd->add_option("--set", sets,
                  "NAME=VALUE: a chain parameter (its params:), e.g. --set dequantize=true; "
                  "repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--hf-experts", hf_experts,
                  "The HF layout of routed experts written by --to hf: per_expert or fused "
                  "(default: the chain's, the published checkpoint's); --set hf_experts=...")
      ->check(CLI::IsMember({"per_expert", "fused"}));
}

void add_chains_dir_option(CLI::App* cmd, std::vector<std::string>& dirs) {
  cmd->add_option("--chains-dir", dirs,
                  "A directory of chains (and layouts/) searched before the default; "
                  "repeatable, the first that serves a model type wins")
      ->allow_extra_args(false)  // one DIR per --chains-dir: never a positional argument
      ->check(CLI::ExistingDirectory);
}

std::string made_counts(const PlanSummary& summary) {
  std::string out;
  for (Made how : kAllMade)
    out += std::to_string(summary.of(how)) + " " + std::string(made_name(how)) + ", ";
  return out + std::to_string(summary.dropped) + " dropped";
}

std::string lookup_advice(const NotFoundError& error) {
  switch (error.kind()) {
    case NotFoundError::Kind::chain:
      return "add a directory with a chain listing it (--chains-dir DIR), or pass --chain FILE";
    case NotFoundError::Kind::layout:
      return "add a directory whose layouts/ has one (--chains-dir DIR), or pass --layout-file "
             "FILE";
    case NotFoundError::Kind::config:
      return "add a directory whose layouts/ has one (--chains-dir DIR), or pass --config FILE";
  }
  return {};
}

std::string choice_advice(const ChoiceError& error) {
  switch (error.choice()) {
    case ChoiceError::Choice::replace_destination:
      return "use --force to replace it";
    case ChoiceError::Choice::name_chain:
      return "pass --chain FILE";
  }
  return {};
}

}  // namespace chainconv::cli

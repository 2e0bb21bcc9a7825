// Chain::check: chainlint's checks on the text the chain was compiled from.
#include <ATen/ops/empty.h>

#include "api/chain_impl.h"
#include "api/translate.h"
#include "check/lint.h"

namespace chainconv::api {
namespace {

Finding::Severity public_severity(chainconv::Severity s) {
  switch (s) {
    case chainconv::Severity::error:
      return Finding::Severity::error;
    case chainconv::Severity::warning:
      return Finding::Severity::warning;
    case chainconv::Severity::note:
      break;
  }
  return Finding::Severity::note;
}

std::vector<Finding> lint(const Chain::Impl& impl, const LintOptions& options) {
  std::vector<Finding> out;
  for (const chainconv::Finding& f :
       lint_text(impl.text, impl.chain->file, impl.include_dir, options))
    out.push_back({public_position(f.pos), public_severity(f.severity), f.message, f.check});
  return out;
}

}  // namespace

std::string Finding::str() const {
  static constexpr chainconv::Severity kEngine[] = {
      chainconv::Severity::error, chainconv::Severity::warning, chainconv::Severity::note};
  return chainconv::Finding{SourcePos{pos.file, pos.line, pos.col},
                            kEngine[static_cast<int>(severity)], message, check}
      .str();
}

std::vector<Finding> Chain::check() const {
  return translating_errors([&] { return lint(*impl_, {}); });
}

std::vector<Finding> Chain::check(const TensorMap& hf_layout, const Options& options) const {
  return translating_errors([&] {
    StateDict layout;
    for (const auto& [key, item] : engine_dict(hf_layout))
      layout.insert(
          key, Item{at::empty(item.tensor.sizes(), item.tensor.options().device(at::kMeta)), {}});
    LintOptions lint_options;
    lint_options.layout = &layout;
    lint_options.run = engine_options(options);
    return lint(*impl_, lint_options);
  });
}

}  // namespace chainconv::api

// Chain::check: chainlint's checks on the text the chain was compiled from.
#include "api/chain_impl.h"
#include "api/guard.h"
#include "check/lint.h"

namespace chainconv::api {

static std::vector<Finding> lint(const Chain::Impl& impl, const LintOptions& options) {
  return lint_text(impl.text, impl.chain->file, impl.include_dir, options);
}

std::vector<Finding> Chain::check() const {
  return guarded([&] { return lint(*impl_, {}); });
}

std::vector<Finding> Chain::check(const TensorMap& hf_layout, const Options& options) const {
  return guarded([&] {
    const std::vector<TensorSpec> layout = specs_of(hf_layout);
    LintOptions lint_options;
    lint_options.layout = &layout;
    lint_options.run = options;
    return lint(*impl_, lint_options);
  });
}

}  // namespace chainconv::api

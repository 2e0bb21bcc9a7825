#include "core/json_parse.h"

#include <set>
#include <vector>

#include "core/error.h"

namespace chainconv {
namespace {

using json = nlohmann::json;

// Builds the value as nlohmann's own parser does (its DOM builder, which keeps its stack on
// the heap) and checks each event first: nesting is bounded before a level is opened,
// repeated keys are caught where nlohmann would keep the last, and cancellation is polled
// every so often. nlohmann's callback mode could do the first two, but it rescans an
// object's members at each member's end: quadratic in a 100 MB header.
class CheckedBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  CheckedBuilder(json& result, const std::string& path, const JsonParseOptions& options)
      : dom_(result), path_(path), options_(options) {}

  bool null() { return tick(), dom_.null(); }
  bool boolean(bool v) { return tick(), dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return tick(), dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return tick(), dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return tick(), dom_.number_float(v, s); }
  bool string(string_t& v) { return tick(), dom_.string(v); }
  bool binary(binary_t& v) { return tick(), dom_.binary(v); }
  bool start_object(std::size_t n) {
    enter();
    if (options_.reject_duplicate_keys) keys_.emplace_back();
    return dom_.start_object(n);
  }
  bool key(string_t& name) {
    tick();
    if (options_.reject_duplicate_keys && !keys_.back().insert(name).second)
      fail(keys_.size() == 1 ? "lists " + options_.top_level_key + " '" + name + "' twice"
                             : "has the field '" + name + "' twice in one object");
    return dom_.key(name);
  }
  bool end_object() {
    --depth_;
    if (options_.reject_duplicate_keys) keys_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    enter();
    return dom_.start_array(n);
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    fail(std::string("is not valid JSON: ") + e.what());
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(Position{path_, 0, 0}, options_.subject + " " + message);
  }
  void enter() {
    tick();
    if (++depth_ > options_.max_depth)
      fail("nests deeper than " + std::to_string(options_.max_depth) + " levels");
  }
  void tick() {
    if (++events_ % 4096 == 0 && options_.cancelled && options_.cancelled())
      throw Error("interrupted");
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const std::string& path_;
  const JsonParseOptions& options_;
  int depth_ = 0;
  uint64_t events_ = 0;
  std::vector<std::set<std::string>> keys_;  // one set per open object
};

}  // namespace

json parse_json(std::string_view text, const std::string& path, const JsonParseOptions& options) {
  json result;
  CheckedBuilder builder(result, path, options);
  json::sax_parse(text.begin(), text.end(), &builder);
  return result;
}

}  // namespace chainconv

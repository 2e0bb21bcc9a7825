// Key templates: anchored, whole-key patterns with typed placeholders, compiled once.
//
//   model.layers.{layer}.mlp.experts.{expert}.gate_proj.weight
//
// A placeholder fills one whole dotted segment. Its type says what the segment may hold:
//   {name}          decimal digits (layer and expert indices)            "12"
//   {name:segment}  any one segment without dots                         "gate_proj"
//   {name:path}     one or more segments (the only type that needs re2)  "model.language_model"
// A template matches a key only as a whole: no substring matching, ever. A prefix template
// (used by prefix renames and prefix drops) must end in '.' and matches every key that starts
// with it; what follows is carried along unchanged as the "rest".
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace re2 {
class RE2;
}

namespace chainconv {

// The keys of a state dict being converted on descriptions: key -> the slot of the step
// program holding its tensor. The key strings live in the program (they never move), so
// the index and every match can refer to them. Lowering gives the index a memory resource of
// its own (one insertion per program slot, all freed together); other users take the heap.
using KeyIndex = std::pmr::map<std::string_view, uint32_t, std::less<>>;

// Values bound to placeholders, e.g. {layer: "3", expert: "17"}. Few names, kept in order,
// held inline: a binding is made for every key a template matches, so it allocates nothing
// (names and values are short).
class Bindings {
 public:
  static constexpr size_t kMax = 6;  // placeholders a key template may have
  using Entry = std::pair<std::string, std::string>;

  Bindings() = default;
  Bindings(const Bindings& other);
  Bindings(Bindings&& other) noexcept;
  Bindings& operator=(const Bindings& other);
  Bindings& operator=(Bindings&& other) noexcept;
  ~Bindings() { clear(); }

  const std::string* get(std::string_view name) const;
  // Throws Error beyond kMax names.
  void set(const std::string& name, std::string value);
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Bindings for `names` only (those present).
  Bindings only(const std::vector<std::string>& names) const;
  // "layer=3 expert=17"
  std::string str() const;
  const Entry* begin() const { return entries(); }
  const Entry* end() const { return entries() + size_; }
  bool operator==(const Bindings& other) const;

 private:
  // Only the entries in use are constructed: a match copies and moves few of them.
  Entry* entries() { return reinterpret_cast<Entry*>(storage_); }
  const Entry* entries() const { return reinterpret_cast<const Entry*>(storage_); }
  void clear();

  alignas(Entry) unsigned char storage_[kMax * sizeof(Entry)];
  size_t size_ = 0;
};

enum class PlaceholderType { digits, segment, path };

struct Placeholder {
  std::string name;
  PlaceholderType type = PlaceholderType::digits;
};

struct TemplateMatch {
  std::string_view key;            // as stored in the index
  Bindings bindings;               // the fixed bindings plus the ones this key bound
  std::string rest;                // prefix templates only: the part of the key after the prefix
  uint32_t slot = 0;               // the entry's slot
  KeyIndex::const_iterator entry;  // valid until that entry is erased
};

// A match as views: the matched entry and each placeholder's value (bound ones included),
// viewing the key. Made without allocating per key, for callers that read a few values of
// many matches (a stack's index and group) and build bindings only where they need them.
struct KeyMatch {
  KeyIndex::const_iterator entry;
  std::string_view values[Bindings::kMax];  // by placeholder, as placeholders() lists them
  size_t rest = 0;                          // prefix templates: where the rest begins
  std::string_view key() const { return entry->first; }
  uint32_t slot() const { return entry->second; }
};

class KeyTemplate {
 public:
  // Parses and compiles `text`; throws Error at `pos` when it is malformed.
  static KeyTemplate compile(const std::string& text, const Position& pos, bool prefix = false);

  KeyTemplate();
  ~KeyTemplate();
  KeyTemplate(const KeyTemplate&);
  KeyTemplate& operator=(const KeyTemplate&);
  KeyTemplate(KeyTemplate&&) noexcept;
  KeyTemplate& operator=(KeyTemplate&&) noexcept;

  const std::string& text() const { return text_; }
  const Position& pos() const { return pos_; }
  bool is_prefix() const { return prefix_; }
  const std::vector<Placeholder>& placeholders() const { return placeholders_; }
  std::vector<std::string> placeholder_names() const;
  bool has_placeholder(std::string_view name) const;

  // Does `key` match, agreeing with every binding in `fixed` that names one of our
  // placeholders? On success fills `out` (fixed + new bindings) and `rest`.
  bool match(std::string_view key, const Bindings& fixed, Bindings* out = nullptr,
             std::string* rest = nullptr) const;

  // Every key of `dict` that matches, in lexicographic key order. Scans only the keys that
  // share the template's literal prefix (with `fixed` substituted).
  std::vector<TemplateMatch> matches(const KeyIndex& dict, const Bindings& fixed) const;
  bool any_match(const KeyIndex& dict, const Bindings& fixed) const;
  // The same matches as views, in the same order.
  std::vector<KeyMatch> match_views(const KeyIndex& dict, const Bindings& fixed) const;
  // The bindings of a match from match_views (made with the same `fixed`).
  Bindings bindings_of(const KeyMatch& match, const Bindings& fixed) const;
  // The position of placeholder `name` in placeholders(), or -1.
  int placeholder_index(std::string_view name) const;

  // Values placeholder `name` takes among the dict's keys (with `fixed` bound), appended to
  // `out` in lexicographic key order, possibly repeated. When `name` is the first unbound
  // placeholder this skips from one value's key range to the next (O(values x log K)) and
  // may include values whose keys do not match the rest of the template: a superset, for
  // callers that only need candidates.
  void candidate_values(const KeyIndex& dict, const Bindings& fixed, const std::string& name,
                        std::vector<std::string>& out) const;

  // The literal text before the first placeholder not bound by `fixed`.
  std::string literal_prefix(const Bindings& fixed) const;

  // The key this template names under `bindings` (plus `rest` for a prefix template).
  // Throws Error if a placeholder is unbound.
  std::string expand(const Bindings& bindings, std::string_view rest = {}) const;
  // The key under `bindings` but for placeholder `name`: the text before it and after it, so
  // that keys differing in that placeholder alone are made by joining (a stack's rows).
  // Throws Error if another placeholder is unbound or `name` is not one of ours.
  std::pair<std::string, std::string> expand_around(const Bindings& bindings,
                                                    std::string_view name) const;

 private:
  struct Piece {
    std::string literal;  // when placeholder < 0
    int placeholder = -1;
  };
  // The values `fixed` gives our placeholders (nullptr: unbound), looked up once per scan.
  using Bound = std::array<const std::string*, Bindings::kMax>;
  Bound bound_by(const Bindings& fixed) const;
  // Where a scan under `fixed` may skip to: keys in the scan all start with the literal
  // prefix, which ends where piece `piece` begins.
  struct Start {
    size_t piece, pos;
  };
  // Matches `key` without the regex from `start` on (the key's text before it is known to
  // match), leaving each placeholder's value in `values` (a view into `key`, or for a bound
  // placeholder before `start` its bound value) and returning where the rest begins, or npos
  // when it does not match.
  size_t match_values(std::string_view key, const Bound& bound, std::string_view* values,
                      Start start = {0, 0}) const;
  // The same with the regex.
  size_t match_regex_values(std::string_view key, const Bound& bound,
                            std::string_view* values) const;
  // `fixed` plus the values `values` gives the placeholders `bound` leaves unbound.
  void fill(const Bindings& fixed, const Bound& bound, const std::string_view* values,
            Bindings& out) const;
  // The piece a scan under `fixed` starts matching at; appends the literal prefix to `prefix`.
  Start start_of(const Bindings& fixed, std::string& prefix) const;
  // Calls visit(entry, start) -> bool (matched) on every entry of `dict` that may match
  // under `fixed`, in key order, skipping what cannot.
  template <typename Visit>
  void scan(const KeyIndex& dict, const Bindings& fixed, Visit&& visit) const;
  std::vector<KeyMatch> match_views(const KeyIndex& dict, const Bindings& fixed,
                                    const Bound& bound) const;
  // The first placeholder (in key order) `fixed` leaves unbound, and how many it leaves.
  const Placeholder* first_unbound(const Bindings& fixed, size_t* unbound = nullptr) const;

  std::string text_;
  Position pos_;
  bool prefix_ = false;
  std::vector<Piece> pieces_;
  std::string suffix_;  // literal text after the last placeholder: a cheap first rejection
  std::vector<Placeholder> placeholders_;
  std::shared_ptr<const re2::RE2> regex_;  // only when a {name:path} placeholder is present
};

}  // namespace chainconv

#include "core/key_template.h"

#include <re2/re2.h>

#include <algorithm>
#include <new>

#include "core/text.h"

namespace chainconv {

// ---- Bindings ---------------------------------------------------------------------------

Bindings::Bindings(const Bindings& other) {
  for (const Entry& e : other) new (entries() + size_++) Entry(e);
}

Bindings::Bindings(Bindings&& other) noexcept {
  for (size_t i = 0; i < other.size_; ++i) new (entries() + i) Entry(std::move(other.entries()[i]));
  size_ = other.size_;
  other.clear();
}

Bindings& Bindings::operator=(const Bindings& other) {
  if (this == &other) return *this;
  clear();
  for (const Entry& e : other) new (entries() + size_++) Entry(e);
  return *this;
}

Bindings& Bindings::operator=(Bindings&& other) noexcept {
  if (this == &other) return *this;
  clear();
  for (size_t i = 0; i < other.size_; ++i) new (entries() + i) Entry(std::move(other.entries()[i]));
  size_ = other.size_;
  other.clear();
  return *this;
}

void Bindings::clear() {
  for (size_t i = 0; i < size_; ++i) entries()[i].~Entry();
  size_ = 0;
}

const std::string* Bindings::get(std::string_view name) const {
  for (const auto& [n, v] : *this)
    if (n == name) return &v;
  return nullptr;
}

void Bindings::set(const std::string& name, std::string value) {
  for (size_t i = 0; i < size_; ++i) {
    if (entries()[i].first == name) {
      entries()[i].second = std::move(value);
      return;
    }
  }
  if (size_ == kMax)
    throw Error("more than " + std::to_string(kMax) + " placeholders bound at once");
  new (entries() + size_) Entry(name, std::move(value));
  ++size_;
}

bool Bindings::operator==(const Bindings& other) const {
  return size_ == other.size_ && std::equal(begin(), end(), other.begin());
}

Bindings Bindings::only(const std::vector<std::string>& names) const {
  Bindings result;
  for (const auto& [n, v] : *this)
    if (std::find(names.begin(), names.end(), n) != names.end()) result.set(n, v);
  return result;
}

std::string Bindings::str() const {
  std::string s;
  for (const auto& [n, v] : *this) s += (s.empty() ? "" : " ") + n + "=" + v;
  return s;
}

// ---- KeyTemplate ------------------------------------------------------------------------

KeyTemplate::KeyTemplate() = default;
KeyTemplate::~KeyTemplate() = default;
KeyTemplate::KeyTemplate(const KeyTemplate&) = default;
KeyTemplate& KeyTemplate::operator=(const KeyTemplate&) = default;
KeyTemplate::KeyTemplate(KeyTemplate&&) noexcept = default;
KeyTemplate& KeyTemplate::operator=(KeyTemplate&&) noexcept = default;

static bool valid_name(std::string_view name) {
  if (name.empty() || !(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

KeyTemplate KeyTemplate::compile(const std::string& text, const Position& pos, bool prefix) {
  KeyTemplate t;
  t.text_ = text;
  t.pos_ = pos;
  t.prefix_ = prefix;
  auto fail = [&](const std::string& why) -> Error {
    return Error(pos, "bad key template '" + text + "': " + why);
  };
  if (text.empty()) throw fail("it is empty");
  if (prefix && text.back() != '.')
    throw fail("a prefix must end with '.', so that it matches whole segments only");

  bool has_path = false;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find('{', i);
    size_t stray = text.find('}', i);
    if (stray < open) throw fail("'}' without '{' at offset " + std::to_string(stray));
    if (open == std::string::npos) {
      t.pieces_.push_back({text.substr(i), -1});
      break;
    }
    if (open > i) t.pieces_.push_back({text.substr(i, open - i), -1});
    size_t close = text.find('}', open);
    if (close == std::string::npos)
      throw fail("'{' at offset " + std::to_string(open) + " is never closed");
    std::string spec = text.substr(open + 1, close - open - 1);
    Placeholder ph;
    size_t colon = spec.find(':');
    ph.name = spec.substr(0, colon);
    if (colon != std::string::npos) {
      std::string type = spec.substr(colon + 1);
      if (type == "segment")
        ph.type = PlaceholderType::segment;
      else if (type == "path")
        ph.type = PlaceholderType::path, has_path = true;
      else if (type == "digits")
        ph.type = PlaceholderType::digits;
      else
        throw fail("unknown placeholder type '" + type + "' (expected digits, segment or path)");
    }
    if (!valid_name(ph.name))
      throw fail("placeholder name '" + ph.name + "' must match [a-z_][a-z0-9_]*");
    if (t.has_placeholder(ph.name)) throw fail("placeholder {" + ph.name + "} appears twice");
    if (t.placeholders_.size() == Bindings::kMax)
      throw fail("more than " + std::to_string(Bindings::kMax) + " placeholders");
    bool starts_segment = open == 0 || text[open - 1] == '.';
    bool ends_segment = close + 1 == text.size() || text[close + 1] == '.';
    if (!starts_segment || !ends_segment)
      throw fail("placeholder {" + ph.name + "} must fill a whole dotted segment");
    t.pieces_.push_back({{}, static_cast<int>(t.placeholders_.size())});
    t.placeholders_.push_back(ph);
    i = close + 1;
  }
  if (text.front() == '.' || text.find("..") != std::string::npos) throw fail("empty segment");

  if (!prefix && !t.pieces_.empty() && t.pieces_.back().placeholder < 0)
    t.suffix_ = t.pieces_.back().literal;

  if (has_path) {
    std::string pattern;
    for (const Piece& piece : t.pieces_) {
      if (piece.placeholder < 0) {
        pattern += RE2::QuoteMeta(piece.literal);
        continue;
      }
      switch (t.placeholders_[piece.placeholder].type) {
        case PlaceholderType::digits:
          pattern += "([0-9]+)";
          break;
        case PlaceholderType::segment:
          pattern += "([^.]+)";
          break;
        case PlaceholderType::path:
          pattern += "([^.]+(?:\\.[^.]+)*)";
          break;
      }
    }
    pattern += prefix ? "(.+)" : "";
    RE2::Options options;
    options.set_dot_nl(true);
    options.set_log_errors(false);
    auto regex = std::make_shared<RE2>(pattern, options);
    if (!regex->ok()) throw fail("internal regex error: " + regex->error());
    t.regex_ = std::move(regex);
  }
  return t;
}

std::vector<std::string> KeyTemplate::placeholder_names() const {
  std::vector<std::string> names;
  for (const auto& ph : placeholders_) names.push_back(ph.name);
  return names;
}

bool KeyTemplate::has_placeholder(std::string_view name) const {
  return placeholder_index(name) >= 0;
}

static bool starts_with(std::string_view s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

static bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool KeyTemplate::match(std::string_view key, const Bindings& fixed, Bindings* out,
                        std::string* rest) const {
  const Bound bound = bound_by(fixed);
  std::string_view values[Bindings::kMax];
  const size_t end =
      regex_ ? match_regex_values(key, bound, values) : match_values(key, bound, values);
  if (end == std::string_view::npos) return false;
  if (rest && prefix_) *rest = std::string(key.substr(end));
  if (out) fill(fixed, bound, values, *out);
  return true;
}

KeyTemplate::Bound KeyTemplate::bound_by(const Bindings& fixed) const {
  Bound bound{};
  if (!fixed.empty())
    for (size_t i = 0; i < placeholders_.size(); ++i) bound[i] = fixed.get(placeholders_[i].name);
  return bound;
}

// Placeholders fill whole segments, so each one ends at the next '.' or the end of the key:
// matching is one left-to-right pass with no backtracking, and allocates nothing.
size_t KeyTemplate::match_values(std::string_view key, const Bound& bound, std::string_view* values,
                                 Start start) const {
  constexpr size_t kNo = std::string_view::npos;
  if (!ends_with(key, suffix_)) return kNo;
  for (size_t p = 0; p < start.piece; ++p)
    if (pieces_[p].placeholder >= 0)
      values[pieces_[p].placeholder] = *bound[pieces_[p].placeholder];
  size_t pos = start.pos;
  for (size_t p = start.piece; p < pieces_.size(); ++p) {
    const Piece& piece = pieces_[p];
    if (piece.placeholder < 0) {
      if (key.compare(pos, piece.literal.size(), piece.literal) != 0) return kNo;
      pos += piece.literal.size();
      continue;
    }
    size_t end = key.find('.', pos);
    if (end == std::string_view::npos) end = key.size();
    const std::string_view value = key.substr(pos, end - pos);
    const auto i = static_cast<size_t>(piece.placeholder);
    if (value.empty() || (placeholders_[i].type == PlaceholderType::digits && !all_digits(value)))
      return kNo;
    if (bound[i] && *bound[i] != value) return kNo;
    values[i] = value;
    pos = end;
  }
  if (prefix_ ? pos >= key.size() : pos != key.size()) return kNo;
  return pos;
}

void KeyTemplate::fill(const Bindings& fixed, const Bound& bound, const std::string_view* values,
                       Bindings& out) const {
  out = fixed;
  for (size_t i = 0; i < placeholders_.size(); ++i)
    if (!bound[i]) out.set(placeholders_[i].name, std::string(values[i]));
}

size_t KeyTemplate::match_regex_values(std::string_view key, const Bound& bound,
                                       std::string_view* values) const {
  constexpr size_t kNo = std::string_view::npos;
  if (!ends_with(key, suffix_)) return kNo;  // a cheap first rejection
  const int n = regex_->NumberOfCapturingGroups();
  re2::StringPiece groups[Bindings::kMax + 1];
  RE2::Arg args[Bindings::kMax + 1];
  const RE2::Arg* arg_ptrs[Bindings::kMax + 1];
  for (int i = 0; i < n; ++i) {
    args[i] = &groups[i];
    arg_ptrs[i] = &args[i];
  }
  if (!RE2::FullMatchN(re2::StringPiece(key.data(), key.size()), *regex_, arg_ptrs, n)) return kNo;
  for (size_t i = 0; i < placeholders_.size(); ++i) {
    values[i] = std::string_view(groups[i].data(), groups[i].size());
    if (bound[i] && *bound[i] != values[i]) return kNo;
  }
  return prefix_ ? static_cast<size_t>(groups[n - 1].data() - key.data()) : key.size();
}

std::string KeyTemplate::literal_prefix(const Bindings& fixed) const {
  std::string prefix;
  start_of(fixed, prefix);
  return prefix;
}

const Placeholder* KeyTemplate::first_unbound(const Bindings& fixed, size_t* unbound) const {
  const Placeholder* first = nullptr;
  size_t count = 0;
  for (const Placeholder& ph : placeholders_)
    if (!fixed.get(ph.name)) ++count;
  for (const Piece& piece : pieces_)
    if (piece.placeholder >= 0 && !fixed.get(placeholders_[piece.placeholder].name)) {
      first = &placeholders_[piece.placeholder];
      break;
    }
  if (unbound) *unbound = count;
  return first;
}

KeyTemplate::Start KeyTemplate::start_of(const Bindings& fixed, std::string& prefix) const {
  Start start{0, 0};
  for (; start.piece < pieces_.size(); ++start.piece) {
    const Piece& piece = pieces_[start.piece];
    if (piece.placeholder < 0) {
      prefix += piece.literal;
      continue;
    }
    const std::string* bound = fixed.get(placeholders_[piece.placeholder].name);
    if (!bound) break;
    prefix += *bound;
  }
  start.pos = prefix.size();
  return start;
}

// The first entry after every key that starts with `prefix` (the end for "").
static KeyIndex::const_iterator past_prefix(const KeyIndex& dict, std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (prefix.empty()) return dict.end();
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return dict.lower_bound(prefix);
}

template <typename Visit>
void KeyTemplate::scan(const KeyIndex& dict, const Bindings& fixed, Visit&& visit) const {
  std::string prefix;
  const Start start = start_of(fixed, prefix);
  size_t unbound = 0;
  const Placeholder* first = first_unbound(fixed, &unbound);
  // With one placeholder left to bind, each value of it names at most one key. A value's
  // keys are scanned a few at a time; past that (a layer's hundreds of keys under a
  // template naming one of them) the one key is looked up and the rest jumped over.
  const bool one_per_value =
      first && unbound == 1 && !prefix_ && first->type != PlaceholderType::path;
  constexpr int kScan = 8;
  // Every key from here to `end` starts with the prefix: only what follows it is compared.
  auto it = dict.lower_bound(prefix);
  const auto end = past_prefix(dict, prefix);
  while (it != end) {
    if (!one_per_value) {
      visit(it++, start);
      continue;
    }
    const std::string_view key = it->first;
    const size_t dot = key.find('.', prefix.size());
    if (dot == std::string_view::npos) {  // the value ends the key: nothing to skip
      visit(it++, start);
      continue;
    }
    const std::string_view value_dot = key.substr(prefix.size(), dot + 1 - prefix.size());
    auto same_value = [&](std::string_view other) {
      return other.compare(prefix.size(), value_dot.size(), value_dot) == 0;
    };
    bool matched = false;
    int scanned = 0;
    for (; it != end && same_value(it->first) && scanned < kScan; ++scanned)
      matched |= visit(it++, start);
    if (it == end || !same_value(it->first)) continue;
    const std::string value(value_dot.substr(0, value_dot.size() - 1));
    if (!matched && !value.empty() &&
        (first->type != PlaceholderType::digits || all_digits(value))) {
      Bindings with_value = fixed;
      with_value.set(first->name, value);
      auto exact = dict.find(expand(with_value));
      if (exact != dict.end()) visit(exact, start);
    }
    it = dict.lower_bound(std::string(key.substr(0, dot)) + "/");  // '/' follows '.'
  }
}

std::vector<KeyMatch> KeyTemplate::match_views(const KeyIndex& dict, const Bindings& fixed) const {
  return match_views(dict, fixed, bound_by(fixed));
}

std::vector<KeyMatch> KeyTemplate::match_views(const KeyIndex& dict, const Bindings& fixed,
                                               const Bound& bound) const {
  std::vector<KeyMatch> found;
  scan(dict, fixed, [&](KeyIndex::const_iterator it, Start start) {
    KeyMatch& m = found.emplace_back();
    m.rest = regex_ ? match_regex_values(it->first, bound, m.values)
                    : match_values(it->first, bound, m.values, start);
    if (m.rest == std::string_view::npos) {
      found.pop_back();
      return false;
    }
    m.entry = it;
    return true;
  });
  return found;
}

Bindings KeyTemplate::bindings_of(const KeyMatch& match, const Bindings& fixed) const {
  Bindings out;
  fill(fixed, bound_by(fixed), match.values, out);
  return out;
}

int KeyTemplate::placeholder_index(std::string_view name) const {
  for (size_t i = 0; i < placeholders_.size(); ++i)
    if (placeholders_[i].name == name) return static_cast<int>(i);
  return -1;
}

std::vector<TemplateMatch> KeyTemplate::matches(const KeyIndex& dict, const Bindings& fixed) const {
  // Most keys a scan looks at do not match: each is tried on views, and the hits are made
  // into matches (bindings, rest) once their number is known.
  const Bound bound = bound_by(fixed);
  const std::vector<KeyMatch> views = match_views(dict, fixed, bound);
  std::vector<TemplateMatch> found(views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    TemplateMatch& m = found[i];
    m.key = views[i].key();
    m.slot = views[i].slot();
    m.entry = views[i].entry;
    fill(fixed, bound, views[i].values, m.bindings);
    if (prefix_) m.rest = std::string(m.key.substr(views[i].rest));
  }
  return found;
}

bool KeyTemplate::any_match(const KeyIndex& dict, const Bindings& fixed) const {
  if (placeholders_.empty() && !prefix_) return dict.find(text_) != dict.end();
  const std::string prefix = literal_prefix(fixed);
  for (auto it = dict.lower_bound(prefix); it != dict.end() && starts_with(it->first, prefix); ++it)
    if (match(it->first, fixed)) return true;
  return false;
}

void KeyTemplate::candidate_values(const KeyIndex& dict, const Bindings& fixed,
                                   const std::string& name, std::vector<std::string>& out) const {
  const Placeholder* first_unbound = nullptr;
  for (const Piece& piece : pieces_) {
    if (piece.placeholder >= 0 && !fixed.get(placeholders_[piece.placeholder].name)) {
      first_unbound = &placeholders_[piece.placeholder];
      break;
    }
  }
  if (!first_unbound || first_unbound->name != name ||
      first_unbound->type == PlaceholderType::path) {
    for (const TemplateMatch& m : matches(dict, fixed))
      if (const std::string* v = m.bindings.get(name)) out.push_back(*v);
    return;
  }
  const std::string prefix = literal_prefix(fixed);
  auto it = dict.lower_bound(prefix);
  while (it != dict.end() && starts_with(it->first, prefix)) {
    std::string_view key = it->first;
    size_t end = key.find('.', prefix.size());
    std::string value(key.substr(prefix.size(), end == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : end - prefix.size()));
    bool valid =
        !value.empty() && (first_unbound->type != PlaceholderType::digits || all_digits(value));
    if (valid) out.push_back(value);
    // '/' follows '.' in ASCII: this skips every key of the form prefix + value + '.' ...
    it = dict.lower_bound(prefix + value +
                          (end == std::string_view::npos ? std::string(1, '\0') : "/"));
  }
}

// The value `bindings` gives placeholder `name` of `t`, which expanding `t` needs.
static const std::string& bound_value(const KeyTemplate& t, const Bindings& bindings,
                                      const std::string& name) {
  const std::string* value = bindings.get(name);
  if (!value) throw Error(t.pos(), "placeholder {" + name + "} of '" + t.text() + "' is not bound");
  return *value;
}

std::pair<std::string, std::string> KeyTemplate::expand_around(const Bindings& bindings,
                                                               std::string_view name) const {
  std::pair<std::string, std::string> parts;
  std::string* part = &parts.first;
  for (const Piece& piece : pieces_) {
    if (piece.placeholder < 0) {
      *part += piece.literal;
      continue;
    }
    const std::string& placeholder = placeholders_[piece.placeholder].name;
    if (placeholder == name) {
      part = &parts.second;
      continue;
    }
    *part += bound_value(*this, bindings, placeholder);
  }
  if (part == &parts.first)
    throw Error(pos_, "'" + text_ + "' has no placeholder {" + std::string(name) + "}");
  return parts;
}

std::string KeyTemplate::expand(const Bindings& bindings, std::string_view rest) const {
  std::string key;
  key.reserve(text_.size() + rest.size() + 8);
  for (const Piece& piece : pieces_) {
    if (piece.placeholder < 0) {
      key += piece.literal;
      continue;
    }
    key += bound_value(*this, bindings, placeholders_[piece.placeholder].name);
  }
  key += rest;
  return key;
}

}  // namespace chainconv

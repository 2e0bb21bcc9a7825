#include "program/lower_by_layer.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/key_sort.h"
#include "dsl/chain.h"
#include "program/lower.h"

namespace chainconv {
namespace {

// Stands for the layer number while a kind of layer is lowered. Digits, so that templates
// match it as they match a number, and long enough that no key or template holds it: both
// are checked, and a key set or chain that does is lowered whole.
constexpr std::string_view kSentinel = "918273645546372819";
// Kinds of layer a key set may hold and still be lowered a layer at a time.
constexpr size_t kMaxKinds = 16;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Where the keys a template names lie: inside layers (the placeholder `name` holding the
// layer number), outside any layer, beyond a prefix that holds no layer (the rest, which a
// prefix rename carries along, may), or possibly anywhere.
struct Anchor {
  enum class Kind { outside, layered, beyond_prefix, unknown } kind = Kind::unknown;
  std::string name;
};

struct Segment {
  std::string_view text;
  const Placeholder* placeholder = nullptr;  // null: literal text
};

// A key's layer is the number after its first `layers` segment (io/convert.h groups keys so
// on disk). A template names keys of one layer per binding when that pair is, in the
// template, the literal `layers` and a digits placeholder, and nothing before it could be
// such a pair; it names keys outside layers when nothing anywhere could be.
Anchor anchor_of(const KeyTemplate& t) {
  const std::string_view text = t.text();
  if (text.find(kSentinel) != std::string_view::npos) return {};
  std::vector<Segment> segments;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.find('.', pos), text.size());
    Segment s{text.substr(pos, end - pos)};
    if (!s.text.empty() && s.text.front() == '{') {
      const std::string_view spec = s.text.substr(1, s.text.size() - 2);
      const int index = t.placeholder_index(spec.substr(0, spec.find(':')));
      if (index < 0) return {};
      s.placeholder = &t.placeholders()[static_cast<size_t>(index)];
      if (s.placeholder->type == PlaceholderType::path) return {};  // spans any segments
    }
    segments.push_back(s);
    pos = end + 1;
  }
  auto may_be_layers = [](const Segment& s) {
    return s.placeholder ? s.placeholder->type != PlaceholderType::digits : s.text == "layers";
  };
  auto may_be_number = [](const Segment& s) { return s.placeholder || all_digits(s.text); };
  for (size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    // A prefix template's key goes on after its last segment with anything.
    if (!may_be_layers(segments[i]) || (last ? !t.is_prefix() : !may_be_number(segments[i + 1])))
      continue;
    if (last || segments[i].placeholder || !segments[i + 1].placeholder ||
        segments[i + 1].placeholder->type != PlaceholderType::digits)
      return {};
    return {Anchor::Kind::layered, segments[i + 1].placeholder->name};
  }
  return {t.is_prefix() ? Anchor::Kind::beyond_prefix : Anchor::Kind::outside, {}};
}

bool acts_per_value(const Op& op, const std::string& name) {
  if (!op.acts_per_value_of(name)) return false;
  for (const Op* child : op.children())
    if (!acts_per_value(*child, name)) return false;
  return true;
}

std::vector<const KeyTemplate*> templates_of(const Op& op, Direction direction) {
  Footprint fp;
  op.footprint(direction, fp);
  std::vector<const KeyTemplate*> all = fp.reads;
  for (const auto* more : {&fp.writes, &fp.tests, &fp.fills})
    all.insert(all.end(), more->begin(), more->end());
  return all;
}

bool op_separable(const Op& op, Direction direction) {
  const std::vector<const KeyTemplate*> templates = templates_of(op, direction);
  const std::vector<const Op*> children = op.children();
  if (!children.empty()) {
    // An op whose children alone name keys (a piece in use, a conditional on parameters)
    // decides nothing by keys itself: it splits where each child does.
    std::set<const KeyTemplate*> of_children;
    for (const Op* child : children)
      for (const KeyTemplate* t : templates_of(*child, direction)) of_children.insert(t);
    if (std::all_of(templates.begin(), templates.end(),
                    [&](const KeyTemplate* t) { return of_children.count(t) > 0; }))
      return std::all_of(children.begin(), children.end(),
                         [&](const Op* child) { return op_separable(*child, direction); });
  }
  // Every key an op names stays where it was: in its layer, outside layers, or beyond a
  // prefix that holds no layer, which only an op taking keys one at a time may name.
  std::optional<Anchor> shared;
  for (const KeyTemplate* t : templates) {
    const Anchor a = anchor_of(*t);
    if (a.kind == Anchor::Kind::unknown) return false;
    if (!shared) shared = a;
    if (a.kind != shared->kind || a.name != shared->name) return false;
  }
  if (!shared) return true;  // it names no key in this direction
  switch (shared->kind) {
    case Anchor::Kind::layered:
      return acts_per_value(op, shared->name);
    case Anchor::Kind::beyond_prefix:
      return op.acts_per_key();
    default:
      return shared->kind == Anchor::Kind::outside;
  }
}

// Where a key's layer number is: its offset and length, or length 0 outside any layer.
struct NumberAt {
  uint32_t pos = 0, size = 0;
};

NumberAt layer_number(std::string_view key) {
  for (size_t at = key.find("layers."); at != std::string_view::npos;
       at = key.find("layers.", at + 7)) {
    if (at > 0 && key[at - 1] != '.') continue;  // a segment that only ends in "layers"
    const size_t first = at + 7;
    const size_t end = key.find('.', first);
    if (end == std::string_view::npos) return {};
    if (all_digits(key.substr(first, end - first)))
      return {static_cast<uint32_t>(first), static_cast<uint32_t>(end - first)};
  }
  return {};
}

// One layer's keys: their places in the key set's sorted order, and where the number is in
// each.
struct LayerGroup {
  std::string_view number;     // in the input key it was found in
  std::vector<uint32_t> keys;  // indices into the sorted key set
  std::vector<uint32_t> at;    // where `number` begins in each key
  size_t kind = 0;             // its kind: an index into the kinds
};

// A program lowered on some of the keys, to be copied into the whole key set's.
struct Part {
  Program program;
  std::vector<uint32_t> order;  // input slot -> position among the keys it was lowered on
  Program::CutNames names;      // its slot names cut where the sentinel is
};

// A kind of layer: the first layer of it, and the part lowered on its keys.
struct LayerKind {
  size_t first = 0;  // the group lowered
  Part part;
};

class Replicator {
 public:
  Replicator(const Chain& chain, Direction direction, std::vector<TensorSpec>& inputs,
             const Options& options)
      : chain_(chain), direction_(direction), inputs_(inputs), options_(options) {}

  // The program, or nullopt where the key set is to be lowered whole (`inputs` as given).
  std::optional<Program> lower(LayerLowering& how) {
    if (!sort_and_check() || !group()) return std::nullopt;
    try {
      if (!outside_.empty() && !lower_outside()) return std::nullopt;
      for (LayerKind& kind : kinds_)
        if (!lower_kind(kind)) return std::nullopt;
    } catch (const Error&) {
      return std::nullopt;  // the whole key set fails too, and says so as lower() does
    }
    std::optional<Program> program = assemble();
    if (!program) return std::nullopt;
    how.whole = false;
    how.lowerings = kinds_.size() + (outside_.empty() ? 0 : 1);
    how.layers = groups_.size();
    return std::move(*program);
  }

  // Input slot -> index in `inputs`, as lower() sets input_order.
  std::vector<uint32_t>& sorted() { return sorted_; }

 private:
  bool sort_and_check() {
    sorted_.resize(inputs_.size());
    std::vector<std::string_view> keys(inputs_.size());
    for (uint32_t i = 0; i < sorted_.size(); ++i) {
      sorted_[i] = i;
      keys[i] = inputs_[i].key;
    }
    sort_by_bytes(sorted_, keys);
    for (size_t i = 0; i < sorted_.size(); ++i) {
      const TensorSpec& in = inputs_[sorted_[i]];
      if (!in.dtype || (i > 0 && in.key == inputs_[sorted_[i - 1]].key)) return false;
      for (int64_t size : in.shape)
        if (size < 0) return false;  // lower() names the key
    }
    return true;
  }

  // Groups the keys by layer and the layers by kind; false when no kind repeats.
  bool group() {
    std::unordered_map<std::string_view, size_t> by_number;
    LayerGroup* last = nullptr;
    for (uint32_t i = 0; i < sorted_.size(); ++i) {
      const std::string_view key = inputs_[sorted_[i]].key;
      const NumberAt n = layer_number(key);
      if (n.size == 0) {
        outside_.push_back(i);
        continue;
      }
      const std::string_view number = key.substr(n.pos, n.size);
      if (!last || last->number != number) {
        auto [it, added] = by_number.try_emplace(number, groups_.size());
        if (added) groups_.push_back(LayerGroup{number, {}, {}, 0});
        last = &groups_[it->second];
      }
      last->keys.push_back(i);
      last->at.push_back(n.pos);
    }
    for (size_t g = 0; g < groups_.size(); ++g) {
      size_t k = 0;
      while (k < kinds_.size() && !same_kind(groups_[kinds_[k].first], groups_[g])) ++k;
      if (k == kinds_.size()) {
        // Each layer is compared with one of each kind: with many kinds (no model has more
        // than a few) that would grow as layers x kinds, so such a key set is lowered whole.
        if (kinds_.size() == kMaxKinds) return false;
        kinds_.push_back(LayerKind{g, {}});
      }
      groups_[g].kind = k;
    }
    return kinds_.size() < groups_.size();
  }

  // The same keys but for the number, in the same order, with the same shapes and dtypes.
  bool same_kind(const LayerGroup& a, const LayerGroup& b) const {
    if (a.keys.size() != b.keys.size()) return false;
    for (size_t i = 0; i < a.keys.size(); ++i) {
      const TensorSpec& x = inputs_[sorted_[a.keys[i]]];
      const TensorSpec& y = inputs_[sorted_[b.keys[i]]];
      const size_t xa = a.at[i], ya = b.at[i];
      const size_t xb = xa + a.number.size(), yb = ya + b.number.size();
      if (xa != ya || x.key.size() - xb != y.key.size() - yb ||
          x.key.compare(0, xa, y.key, 0, ya) != 0 ||
          x.key.compare(xb, x.key.npos, y.key, yb) != 0 || x.dtype != y.dtype || x.shape != y.shape)
        return false;
    }
    return true;
  }

  bool lower_outside() {
    std::vector<TensorSpec> specs;
    specs.reserve(outside_.size());
    for (uint32_t i : outside_) specs.push_back(inputs_[sorted_[i]]);
    return lower_part(std::move(specs), outside_part_);
  }

  bool lower_kind(LayerKind& kind) {
    const LayerGroup& group = groups_[kind.first];
    std::vector<TensorSpec> specs;
    specs.reserve(group.keys.size());
    for (size_t i = 0; i < group.keys.size(); ++i) {
      const TensorSpec& in = inputs_[sorted_[group.keys[i]]];
      if (in.key.find(kSentinel) != std::string::npos) return false;
      std::string key = in.key;
      key.replace(group.at[i], group.number.size(), kSentinel);
      specs.push_back({std::move(key), in.shape, in.dtype});
    }
    return lower_part(std::move(specs), kind.part);
  }

  // False where the part warns: warnings name keys, which are not renamed.
  bool lower_part(std::vector<TensorSpec> specs, Part& part) {
    Program& program = part.program;
    program = chainconv::lower(chain_, direction_, std::move(specs), options_, &part.order);
    if (!program.warnings().empty()) return false;
    part.names.pieces.resize(program.slots() - program.inputs());
    for (uint32_t s = program.inputs(); s < program.slots(); ++s) {
      std::vector<std::string_view>& pieces = part.names.pieces[s - program.inputs()];
      const std::string_view name = program.name(s);
      size_t from = 0;
      for (size_t at; (at = name.find(kSentinel, from)) != name.npos; from = at + kSentinel.size())
        pieces.push_back(name.substr(from, at - from));
      pieces.push_back(name.substr(from));
    }
    return true;
  }

  // The program, or nullopt (the inputs given back) where outputs would collide.
  std::optional<Program> assemble() {
    Program program;
    program.direction = direction_;
    program.reserve(inputs_.size() * 2);
    for (uint32_t i : sorted_) {
      TensorSpec& in = inputs_[i];
      program.add_input(std::move(in.key), *in.dtype, std::move(in.shape));
    }
    std::vector<uint32_t> outputs, inputs, map;
    // `part`, lowered on the keys at `positions` of the sorted key set, with `fill` for the
    // sentinel.
    auto append = [&](const Part& part, const std::vector<uint32_t>& positions,
                      std::string_view fill) {
      inputs.resize(part.program.inputs());
      for (uint32_t s = 0; s < inputs.size(); ++s) inputs[s] = positions[part.order[s]];
      program.append_part(part.program, inputs.data(), part.names, fill, map);
      for (uint32_t o : part.program.outputs()) outputs.push_back(map[o]);
    };
    if (!outside_.empty()) append(outside_part_, outside_, {});
    const size_t outside = outputs.size();
    for (const LayerGroup& group : groups_) {
      // The number as the program now holds it: the input keys have moved there.
      const std::string_view number =
          std::string_view(program.name(group.keys[0])).substr(group.at[0], group.number.size());
      append(kinds_[group.kind].part, group.keys, number);
    }
    std::optional<std::vector<uint32_t>> in_order = merged(program, outputs, outside);
    if (!in_order) {
      for (uint32_t slot = 0; slot < program.inputs(); ++slot) {  // the keys moved there
        inputs_[sorted_[slot]].key = program.name(slot);
        inputs_[sorted_[slot]].shape = program.desc(slot).shape;
      }
      return std::nullopt;
    }
    program.set_outputs(std::move(*in_order));
    return program;
  }

  // The outputs in key order, or nullopt where two are named the same (lower() refuses that
  // where it happens). outputs[0, layered) are the outputs of the keys outside layers, in
  // key order, and the rest the layers' in layer order: each layer's come in key order and
  // after the layer before, as a rule, and then only the few outside layers need placing.
  // Otherwise they are sorted.
  static std::optional<std::vector<uint32_t>> merged(const Program& program,
                                                     const std::vector<uint32_t>& outputs,
                                                     size_t layered) {
    auto name = [&](uint32_t slot) -> std::string_view { return program.name(slot); };
    bool in_order = true;
    for (size_t i = layered + 1; in_order && i < outputs.size(); ++i)
      in_order = name(outputs[i - 1]) < name(outputs[i]);
    if (in_order) {
      std::vector<uint32_t> out;
      out.reserve(outputs.size());
      auto from = outputs.begin() + static_cast<ptrdiff_t>(layered);
      for (size_t i = 0; i < layered; ++i) {  // outside keys, themselves in order
        const std::string_view key = name(outputs[i]);
        auto at =
            std::lower_bound(from, outputs.end(), key,
                             [&](uint32_t slot, std::string_view k) { return name(slot) < k; });
        if (at != outputs.end() && name(*at) == key) return std::nullopt;
        out.insert(out.end(), from, at);
        out.push_back(outputs[i]);
        from = at;
      }
      out.insert(out.end(), from, outputs.end());
      return out;
    }
    std::vector<std::string_view> names(outputs.size());
    std::vector<uint32_t> order(outputs.size());
    for (uint32_t i = 0; i < outputs.size(); ++i) {
      names[i] = name(outputs[i]);
      order[i] = i;
    }
    sort_by_bytes(order, names);
    std::vector<uint32_t> out(outputs.size());
    for (size_t i = 0; i < order.size(); ++i) {
      out[i] = outputs[order[i]];
      if (i > 0 && names[order[i]] == names[order[i - 1]]) return std::nullopt;
    }
    return out;
  }

  const Chain& chain_;
  Direction direction_;
  std::vector<TensorSpec>& inputs_;
  const Options& options_;
  std::vector<uint32_t> sorted_;
  std::vector<uint32_t> outside_;  // positions in the sorted key set of keys outside layers
  Part outside_part_;
  std::vector<LayerGroup> groups_;
  std::vector<LayerKind> kinds_;
};

// Whether the keys hold two layers or more: otherwise nothing can repeat (a layer's keys
// converted alone, as trainers stream them).
bool several_layers(const std::vector<TensorSpec>& inputs) {
  std::string_view first;
  for (const TensorSpec& in : inputs) {
    const NumberAt n = layer_number(in.key);
    if (n.size == 0) continue;
    const std::string_view number = std::string_view(in.key).substr(n.pos, n.size);
    if (first.empty())
      first = number;
    else if (number != first)
      return true;
  }
  return false;
}

}  // namespace

bool layer_separable(const OpList& ops, Direction direction) {
  return std::all_of(ops.begin(), ops.end(),
                     [&](const OpPtr& op) { return op_separable(*op, direction); });
}

Program lower_by_layer(const Chain& chain, Direction direction, std::vector<TensorSpec> inputs,
                       const Options& options, std::vector<uint32_t>* input_order,
                       LayerLowering* how) {
  if (how) *how = LayerLowering{};
  if (!chain.layer_separable[static_cast<int>(direction)] || !several_layers(inputs))
    return lower(chain, direction, std::move(inputs), options, input_order);
  Replicator replicator(chain, direction, inputs, options);
  LayerLowering made;
  if (std::optional<Program> program = replicator.lower(made)) {
    if (how) *how = made;
    if (input_order) *input_order = std::move(replicator.sorted());
    return std::move(*program);
  }
  // Lowered whole after all: in the order already sorted, which lower() then keeps.
  std::vector<uint32_t>& sorted = replicator.sorted();
  std::vector<TensorSpec> in_order;
  in_order.reserve(sorted.size());
  for (uint32_t i : sorted) in_order.push_back(std::move(inputs[i]));
  Program program = lower(chain, direction, std::move(in_order), options, input_order);
  if (input_order)
    for (uint32_t& i : *input_order) i = sorted[i];
  return program;
}

}  // namespace chainconv

#include "check/schema.h"

#include <re2/re2.h>

#include <map>
#include <memory>
#include <regex>
#include <set>

namespace chainconv {

using json = nlohmann::json;

namespace {

// Keywords the interpreter implements or that only annotate (title, description, ...).
const std::set<std::string>& known_keywords() {
  static const std::set<std::string> keywords = {"$schema",       "$id",
                                                 "$ref",          "$defs",
                                                 "definitions",   "title",
                                                 "description",   "markdownDescription",
                                                 "default",       "examples",
                                                 "type",          "properties",
                                                 "required",      "additionalProperties",
                                                 "propertyNames", "enum",
                                                 "const",         "items",
                                                 "minItems",      "maxItems",
                                                 "minProperties", "maxProperties",
                                                 "minLength",     "minimum",
                                                 "maximum",       "pattern",
                                                 "anyOf",         "oneOf",
                                                 "allOf"};
  return keywords;
}

void require_known_keywords(const json& s, const std::string& where) {
  if (s.is_boolean()) return;
  if (!s.is_object()) throw Error("chain schema: " + where + " is not a schema");
  for (const auto& [keyword, value] : s.items()) {
    const std::string at = where + "/" + keyword;
    if (!known_keywords().count(keyword))
      throw Error("chain schema: keyword '" + keyword + "' at " + where +
                  " is not implemented by the validator");
    if (keyword == "properties" || keyword == "$defs" || keyword == "definitions") {
      for (const auto& [name, sub] : value.items()) require_known_keywords(sub, at + "/" + name);
    } else if (keyword == "additionalProperties" || keyword == "items" ||
               keyword == "propertyNames") {
      require_known_keywords(value, at);
    } else if (keyword == "anyOf" || keyword == "oneOf" || keyword == "allOf") {
      for (size_t i = 0; i < value.size(); ++i)
        require_known_keywords(value[i], at + "/" + std::to_string(i));
    }
  }
}

// What JSON type a YAML node stands for. Quoted scalars are strings; plain ones are typed the
// way YAML 1.2's core schema types them.
enum class ValueType { null, boolean, integer, number, string, array, object };

ValueType type_of(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return ValueType::null;
  if (n.IsSequence()) return ValueType::array;
  if (n.IsMap()) return ValueType::object;
  if (n.Tag() == "!") return ValueType::string;
  static const std::regex integer("[-+]?[0-9]+");
  static const std::regex number(
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|"
      "NAN)");
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE")
    return ValueType::boolean;
  if (std::regex_match(s, integer)) return ValueType::integer;
  if (std::regex_match(s, number)) return ValueType::number;
  return ValueType::string;
}

bool type_accepts(const std::string& name, ValueType t) {
  if (name == "null") return t == ValueType::null;
  if (name == "boolean") return t == ValueType::boolean;
  if (name == "integer") return t == ValueType::integer;
  if (name == "number") return t == ValueType::integer || t == ValueType::number;
  if (name == "string") return t == ValueType::string;
  if (name == "array") return t == ValueType::array;
  if (name == "object") return t == ValueType::object;
  return false;
}

std::string type_words(const std::string& name) {
  if (name == "object") return "a mapping";
  if (name == "array") return "a list";
  if (name == "string") return "a string";
  if (name == "integer") return "an integer";
  if (name == "number") return "a number";
  if (name == "boolean") return "true or false";
  if (name == "null") return "nothing";
  return name;
}

std::string join_or(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
  return out;
}

std::string join_comma(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string quoted(const json& value) {
  return value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump();
}

// How a value reads in a message: 'text' for a scalar, its kind otherwise.
std::string found(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence())
    return n.size() == 0 ? "an empty list" : "a list of " + std::to_string(n.size());
  std::string s = n.Scalar();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return "'" + s + "'";
}

bool equals(const YAML::Node& n, const json& value) {
  ValueType t = type_of(n);
  if (value.is_string()) return t == ValueType::string && n.Scalar() == value.get<std::string>();
  if (value.is_number_integer()) {
    if (t != ValueType::integer) return false;
    try {
      return std::stoll(n.Scalar()) == value.get<int64_t>();
    } catch (const std::exception&) {
      return false;
    }
  }
  if (value.is_boolean()) {
    if (t != ValueType::boolean) return false;
    char c = n.Scalar()[0];
    return (c == 't' || c == 'T') == value.get<bool>();
  }
  if (value.is_null()) return t == ValueType::null;
  return false;
}

// "an op" -> "op": the noun for "unknown op 'x'".
std::string noun(std::string label) {
  for (const char* article : {"a ", "an ", "the "})
    if (label.rfind(article, 0) == 0) return label.substr(std::string(article).size());
  return label;
}

}  // namespace

struct SchemaValidator::Run {
  const SchemaValidator& validator;
  std::shared_ptr<const std::string> file;

  Position pos_of(const YAML::Node& n, const Position& fallback) const {
    // A null value (`key:` with nothing after it) has no useful mark of its own.
    if (n.IsDefined() && !n.IsNull() && n.Mark().line >= 0)
      return Position{*file, n.Mark().line + 1, n.Mark().column + 1};
    return fallback;
  }

  void report(std::vector<Finding>& out, const Position& at, std::string message) const {
    out.push_back(Finding{at, Severity::error, std::move(message), "schema"});
  }

  const json& resolve(const json& s) const {
    const json* current = &s;
    for (int depth = 0; current->is_object() && current->contains("$ref"); ++depth) {
      if (depth > 32) throw Error("chain schema: $ref cycle at " + s.dump());
      std::string ref = (*current)["$ref"].get<std::string>();
      if (ref.empty() || ref[0] != '#')
        throw Error("chain schema: only local $ref is supported: " + ref);
      current = &validator.at(ref.substr(1));
    }
    return *current;
  }

  std::string label(const json& s) const {
    if (!s.is_object()) return "a valid value";
    if (s.contains("title")) return s["title"].get<std::string>();
    if (s.contains("$ref")) return label(resolve(s));
    if (s.contains("const")) return quoted(s["const"]);
    if (s.contains("enum")) {
      std::vector<std::string> values;
      for (const json& v : s["enum"]) values.push_back(quoted(v));
      return join_or(values);
    }
    if (s.contains("type")) {
      std::vector<std::string> words;
      if (s["type"].is_string()) return type_words(s["type"]);
      for (const json& t : s["type"]) words.push_back(type_words(t));
      return join_or(words);
    }
    for (const char* combinator : {"anyOf", "oneOf"}) {
      if (!s.contains(combinator)) continue;
      std::vector<std::string> labels;
      for (const json& alt : s[combinator]) labels.push_back(label(alt));
      return join_or(labels);
    }
    return "a valid value";
  }

  // "expected a key template (a string), found a mapping"
  std::string expected(const json& s, const YAML::Node& n) const {
    std::string what = label(s);
    if (s.contains("type") && s["type"].is_string()) {
      std::string words = type_words(s["type"]);
      if (what != words) what += " (" + words + ")";
    }
    return "expected " + what + ", found " + found(n);
  }

  void check(const json& schema, const YAML::Node& n, const Position& at,
             const std::string& context, std::vector<Finding>& out) const {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) report(out, at, "unexpected value " + found(n));
      return;
    }
    if (schema.contains("$ref")) {
      const json& target = resolve(schema);
      check(target, n, at, context, out);
      return;
    }
    const ValueType t = type_of(n);
    if (schema.contains("type")) {
      const json& type = schema["type"];
      bool ok = type.is_string() ? type_accepts(type, t)
                                 : std::any_of(type.begin(), type.end(), [&](const json& name) {
                                     return type_accepts(name, t);
                                   });
      if (!ok) return report(out, at, expected(schema, n));
    }
    if (schema.contains("const") && !equals(n, schema["const"]))
      return report(out, at, expected(schema, n));
    if (schema.contains("enum")) {
      const json& values = schema["enum"];
      if (std::none_of(values.begin(), values.end(), [&](const json& v) { return equals(n, v); }))
        return report(out, at, expected(schema, n));
    }
    if (t == ValueType::string) check_string(schema, n, at, out);
    if (t == ValueType::integer && schema.contains("minimum") &&
        std::stoll(n.Scalar()) < schema["minimum"].get<int64_t>())
      report(out, at, expected(schema, n));
    if (t == ValueType::integer && schema.contains("maximum") &&
        std::stoll(n.Scalar()) > schema["maximum"].get<int64_t>())
      report(out, at, expected(schema, n));
    std::string inner = schema.contains("title") ? schema["title"].get<std::string>() : context;
    if (t == ValueType::object) check_object(schema, n, at, inner, out);
    if (t == ValueType::array) check_array(schema, n, at, inner, out);
    if (schema.contains("allOf"))
      for (const json& part : schema["allOf"]) check(part, n, at, context, out);
    if (schema.contains("anyOf"))
      check_alternatives(schema, schema["anyOf"], false, n, at, inner, out);
    if (schema.contains("oneOf"))
      check_alternatives(schema, schema["oneOf"], true, n, at, inner, out);
  }

  void check_string(const json& schema, const YAML::Node& n, const Position& at,
                    std::vector<Finding>& out) const {
    const std::string& s = n.Scalar();
    if (schema.contains("minLength") && s.size() < schema["minLength"].get<size_t>())
      return report(out, at, expected(schema, n));
    if (schema.contains("pattern")) {
      // JSON Schema patterns are unanchored ECMA-262; the chain schema's are plain enough for re2.
      RE2 re(schema["pattern"].get<std::string>());
      if (!re.ok())
        throw Error("chain schema: bad pattern " + schema["pattern"].dump() + ": " + re.error());
      if (!RE2::PartialMatch(s, re)) report(out, at, expected(schema, n));
    }
  }

  void check_object(const json& schema, const YAML::Node& n, const Position& at,
                    const std::string& context, std::vector<Finding>& out) const {
    std::set<std::string> seen;
    const json* properties = schema.contains("properties") ? &schema["properties"] : nullptr;
    for (const auto& kv : n) {
      Position key_at = pos_of(kv.first, at);
      if (!kv.first.IsScalar()) {
        report(out, key_at, "expected a field name, found " + found(kv.first));
        continue;
      }
      const std::string name = kv.first.Scalar();
      if (!seen.insert(name).second) {
        report(out, key_at, "duplicate key '" + name + "' in this mapping");
        continue;
      }
      if (schema.contains("propertyNames"))
        check(schema["propertyNames"], kv.first, key_at, context, out);
      Position value_at = pos_of(kv.second, key_at);
      if (properties && properties->contains(name)) {
        check((*properties)[name], kv.second, value_at, "'" + name + "'", out);
      } else if (schema.contains("additionalProperties")) {
        const json& extra = schema["additionalProperties"];
        if (extra.is_boolean() && !extra.get<bool>()) {
          std::vector<std::string> names;
          if (properties)
            for (const auto& [p, sub] : properties->items()) names.push_back(p);
          report(out, key_at,
                 "unknown field '" + name + "' in " + context +
                     (names.empty() ? "" : " (expected one of: " + join_comma(names) + ")"));
        } else {
          check(extra, kv.second, value_at, "'" + name + "'", out);
        }
      }
    }
    if ((schema.contains("minProperties") && n.size() < schema["minProperties"].get<size_t>()) ||
        (schema.contains("maxProperties") && n.size() > schema["maxProperties"].get<size_t>()))
      report(out, at,
             "expected " + label(schema) + ", found a mapping of " + std::to_string(n.size()) +
                 (n.size() == 1 ? " entry" : " entries"));
    if (schema.contains("required"))
      for (const json& r : schema["required"])
        if (!seen.count(r.get<std::string>()))
          report(out, at, "missing field '" + r.get<std::string>() + "' in " + context);
  }

  void check_array(const json& schema, const YAML::Node& n, const Position& at,
                   const std::string& context, std::vector<Finding>& out) const {
    if (schema.contains("minItems") && n.size() < schema["minItems"].get<size_t>())
      report(out, at, expected(schema, n));
    if (schema.contains("maxItems") && n.size() > schema["maxItems"].get<size_t>())
      report(out, at, expected(schema, n));
    if (!schema.contains("items")) return;
    for (const auto& item : n) check(schema["items"], item, pos_of(item, at), context, out);
  }

  // anyOf / oneOf. When nothing matches, the message follows the alternative the value was
  // evidently meant to be (the op whose key it has, the list when it is a list); failing
  // that, it says what was expected as a whole.
  void check_alternatives(const json& schema, const json& alternatives, bool exactly_one,
                          const YAML::Node& n, const Position& at, const std::string& context,
                          std::vector<Finding>& out) const {
    std::vector<std::vector<Finding>> errors(alternatives.size());
    std::vector<std::string> passed;
    for (size_t i = 0; i < alternatives.size(); ++i) {
      check(alternatives[i], n, at, context, errors[i]);
      if (errors[i].empty()) passed.push_back(label(alternatives[i]));
    }
    if (exactly_one && passed.size() > 1)
      return report(
          out, at,
          "ambiguous: " + found(n) + " is " + join_comma(passed) + " (expected exactly one)");
    if (!passed.empty()) return;

    const ValueType t = type_of(n);
    std::vector<const json*> resolved;
    for (const json& alt : alternatives) resolved.push_back(&resolve(alt));
    auto append = [&](size_t i) { out.insert(out.end(), errors[i].begin(), errors[i].end()); };

    if (t == ValueType::object) {
      // An alternative named by its first required key: `rename:` means the rename op.
      for (size_t i = 0; i < resolved.size(); ++i) {
        const json& r = *resolved[i];
        if (r.contains("required") && !r["required"].empty() &&
            n[r["required"][0].get<std::string>()])
          return append(i);
      }
      bool all_keyed = std::all_of(resolved.begin(), resolved.end(), [](const json* r) {
        return r->contains("properties") && r->contains("required") && !(*r)["required"].empty();
      });
      if (all_keyed) {
        std::vector<std::string> names;
        std::set<std::string> known;
        for (const json* r : resolved) {
          names.push_back((*r)["required"][0]);
          for (const auto& [p, sub] : (*r)["properties"].items()) known.insert(p);
        }
        for (const auto& kv : n) {
          if (kv.first.IsScalar() && known.count(kv.first.Scalar())) continue;
          return report(out, pos_of(kv.first, at),
                        "unknown " + noun(label(schema)) + " '" +
                            (kv.first.IsScalar() ? kv.first.Scalar() : "?") +
                            "' (expected one of: " + join_comma(names) + ")");
        }
        return report(out, at,
                      "expected " + label(schema) + " (one of: " + join_comma(names) + "), found " +
                          found(n) + " without any of them");
      }
      bool only_required = std::all_of(resolved.begin(), resolved.end(), [](const json* r) {
        return r->contains("required") && !r->contains("type") && !r->contains("properties");
      });
      if (only_required) {
        std::vector<std::string> labels;
        for (const json* r : resolved) labels.push_back(label(*r));
        return report(out, at, "expected " + join_or(labels) + " in " + context);
      }
    }
    // The one alternative of the value's type, when it is a list or a mapping: its own
    // errors are more precise than a summary.
    std::vector<size_t> typed;
    for (size_t i = 0; i < resolved.size(); ++i) {
      const json& r = *resolved[i];
      if (r.contains("type") && r["type"].is_string() && type_accepts(r["type"], t))
        typed.push_back(i);
    }
    if (typed.size() == 1 && (t == ValueType::object || t == ValueType::array))
      return append(typed.front());

    bool all_const = std::all_of(resolved.begin(), resolved.end(),
                                 [](const json* r) { return r->contains("const"); });
    std::string what = label(schema);
    if (all_const) {
      std::vector<std::string> values;
      for (const json* r : resolved)
        values.push_back((*r)["const"].is_string() ? (*r)["const"].get<std::string>()
                                                   : (*r)["const"].dump());
      what += " (one of: " + join_comma(values) + ")";
    }
    report(out, at, "expected " + what + ", found " + found(n));
  }
};

SchemaValidator::SchemaValidator(json schema) : schema_(std::move(schema)) {
  require_known_keywords(schema_, "#");
}

namespace {

SchemaValidator embedded(const std::string& text, const char* name) {
  json parsed;
  try {
    parsed = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("the embedded ") + name + " schema is not valid JSON: " + e.what());
  }
  return SchemaValidator(std::move(parsed));
}

}  // namespace

const SchemaValidator& SchemaValidator::chain() {
  static const SchemaValidator validator = embedded(chain_schema_text(), "chain");
  return validator;
}

const SchemaValidator& SchemaValidator::layout() {
  static const SchemaValidator validator = embedded(layout_schema_text(), "layout");
  return validator;
}

const json& SchemaValidator::at(const std::string& pointer) const {
  try {
    return schema_.at(json::json_pointer(pointer));
  } catch (const json::exception&) {
    throw Error("chain schema: no definition at '" + pointer + "'");
  }
}

std::vector<Finding> SchemaValidator::validate(const YAML::Node& doc, const std::string& file,
                                               const std::string& pointer) const {
  Run run{*this, std::make_shared<const std::string>(file)};
  std::vector<Finding> findings;
  const json& root = at(pointer);
  run.check(root, doc, run.pos_of(doc, Position{file, 1, 1}), run.label(root), findings);
  sort_findings(findings);
  return findings;
}

}  // namespace chainconv

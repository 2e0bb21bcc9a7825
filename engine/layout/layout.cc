// Interprets a layout file against a config: loops, conditions, lets and blocks over the
// expression language of layout/expr.h. The format is documented in chains/layouts/README.md.
#include "layout/layout.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

#include "core/config.h"
#include "core/dtypes.h"
#include "core/error.h"
#include "core/json_parse.h"
#include "core/params.h"
#include "core/read_file.h"
#include "core/text.h"
#include "layout/doc.h"
#include "layout/expr.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace chainconv {
namespace {

struct LayoutFile {
  std::string path;
  Doc root;
};

Position pos_of(const std::string& file, const Doc& node) {
  return Position{file, node.line() + 1, node.column() + 1};
}

Doc load_yaml(const std::string& path) {
  try {
    return Doc::from(YAML::Load(read_regular_file(path, kMaxTextFileSize, "layout file")));
  } catch (const YAML::Exception& e) {
    throw Error(Position{path, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
}

std::vector<std::string> layouts_dirs(const std::vector<std::string>& chains_dirs) {
  std::vector<std::string> dirs;
  for (const std::string& dir : chains_dirs) dirs.push_back((fs::path(dir) / "layouts").string());
  return dirs;
}

// `target` "" is the HF side; otherwise the layouts that name that target side.
std::string find_layout_path(const std::string& model_type,
                             const std::vector<std::string>& chains_dirs,
                             const std::string& target = "") {
  const std::vector<std::string> dirs = layouts_dirs(chains_dirs);
  // A user's chains directory need not have layouts of its own.
  auto by_type = scan_model_types(dirs, "layout", /*missing_ok=*/true, {target, ""});
  auto it = by_type.find(model_type);
  if (it == by_type.end())
    throw NotFoundError(
        NotFoundError::Kind::layout,
        "no " + (target.empty() ? std::string() : target + " ") + "layout for model_type '" +
            model_type + "' (" + (chains_dirs.empty() ? searched_dirs({}) : searched_dirs(dirs)) +
            "; known: " + (by_type.empty() ? std::string("none") : joined_keys(by_type)) + ")");
  return it->second;
}

LayoutFile load_layout(const std::string& path) { return {path, load_yaml(path)}; }

// One scope of variables: loop variables, lets and block parameters, chained to the
// enclosing scope and finally to the config.
struct Scope {
  const Scope* parent = nullptr;
  std::map<std::string, json> vars;
  std::map<std::string, std::string> params;  // ${name} text substitutions (blocks)
};

class Interpreter {
 public:
  Interpreter(const LayoutFile& file, const json& config, bool fused)
      : file_(file.path), root_(file.root), config_(config) {
    if (const Doc& sections = root_["config_sections"])
      for (const Doc& s : sections.items()) {
        std::string name = str(s);
        if (config_.contains(name) && config_[name].is_object())
          sections_.push_back(&config_[name]);
      }
    if (const Doc& d = root_["dtype"]) default_dtype_ = str(d);
    current_load_file_ = file_;
    load_blocks(root_, fs::path(file_).parent_path());
    globals_.vars["fused"] = fused;
  }

  std::map<std::string, std::vector<std::string>> take_made_by() { return std::move(made_by_); }

  std::vector<TensorSpec> run() {
    Scope scope{&globals_, {}, {}};
    bind_lets(root_["let"], scope);
    elements(root_["tensors"], scope);
    return std::move(out_);
  }

 private:
  void load_blocks(const Doc& root, const fs::path& dir) {
    if (const Doc& includes = root["include"])
      for (const Doc& inc : includes.items()) {
        fs::path path = dir / str(inc);
        if (!fs::is_regular_file(path))
          throw Error(pos_of(current_load_file_, inc),
                      "cannot include '" + path.string() + "': no such file");
        if (!included_paths_.insert(fs::weakly_canonical(path).string()).second) continue;
        included_.push_back(load_yaml(path.string()));
        const Doc& lib = included_.back();
        std::string outer = current_load_file_;
        current_load_file_ = path.string();
        load_blocks(lib, path.parent_path());
        current_load_file_ = outer;
      }
    if (const Doc& blocks = root["blocks"])
      for (const auto& entry : blocks.entries()) {
        std::string name = str(entry.first);
        if (!blocks_.emplace(name, Block{&entry.second, current_load_file_}).second)
          throw Error(pos_of(current_load_file_, entry.first),
                      "block '" + name + "' is defined twice");
      }
  }

  std::string where(const Doc& node) const { return pos_of(file_, node).str(); }

  std::string str(const Doc& node) const {
    if (!node.IsScalar()) throw Error(pos_of(file_, node), "expected a string");
    return node.Scalar();
  }

  std::string subst(const Doc& node, const Scope& scope) const {
    if (!node.IsScalar()) throw Error(pos_of(file_, node), "expected a scalar");
    const std::string& text = node.Scalar();
    if (text.find("${") == std::string::npos) return text;
    auto lookup = [&scope](const std::string& name) -> const std::string* {
      for (const Scope* s = &scope; s; s = s->parent) {
        auto it = s->params.find(name);
        if (it != s->params.end()) return &it->second;
      }
      return nullptr;
    };
    return substitute_params(node.Scalar(), lookup, pos_of(file_, node), "block parameter");
  }

  ExprEnv env(const Scope& scope) const {
    ExprEnv e;
    e.find = [this, &scope](const std::string& name) -> const json* {
      for (const Scope* s = &scope; s; s = s->parent) {
        auto it = s->vars.find(name);
        if (it != s->vars.end()) return &it->second;
      }
      for (const json* section : sections_)
        if (section->contains(name)) return &(*section)[name];
      if (config_.contains(name)) return &config_[name];
      return nullptr;
    };
    e.describe_missing = [](const std::string& name) {
      return "config.json has no field '" + name + "' (nor a layout variable of that name)";
    };
    return e;
  }

  // Each expression is parsed once (a layout evaluates the same few for every layer and
  // expert); the cache is keyed by its text after ${param} substitution and its place.
  const Expr& expr(const Doc& node, const Scope& scope) const {
    std::string text = subst(node, scope);
    text += '\0' + std::to_string(node.line()) + ':' + std::to_string(node.column());
    auto it = exprs_.find(text);
    if (it == exprs_.end())
      it = exprs_.emplace(text, Expr::parse(subst(node, scope), where(node))).first;
    return it->second;
  }
  // An expression's errors name their place as text ("file:line:col: ..."); made a Position
  // again, a checker can report them where they are.
  template <class Body>
  auto at_node(const Doc& node, Body&& body) const -> decltype(body()) {
    try {
      return body();
    } catch (const Error& e) {
      const std::string prefix = where(node) + ": ";
      if (e.pos().known() || e.message().rfind(prefix, 0) != 0) throw;
      throw Error(pos_of(file_, node), e.message().substr(prefix.size()));
    }
  }
  json eval(const Doc& node, const Scope& scope) const {
    return at_node(node, [&] { return expr(node, scope).eval(env(scope)); });
  }
  int64_t eval_int(const Doc& node, const Scope& scope) const {
    return at_node(node, [&] { return expr(node, scope).eval_int(env(scope)); });
  }
  bool eval_bool(const Doc& node, const Scope& scope) const {
    return at_node(node, [&] { return expr(node, scope).eval_bool(env(scope)); });
  }

  void bind_lets(const Doc& lets, Scope& scope) const {
    if (!lets) return;
    if (!lets.IsMap())
      throw Error(pos_of(file_, lets), "'let' needs a mapping of names to expressions");
    for (const auto& entry : lets.entries())
      scope.vars[str(entry.first)] = eval(entry.second, scope);
  }

  void elements(const Doc& list, const Scope& scope) {
    if (!list) return;
    if (!list.IsSequence())
      throw Error(pos_of(file_, list), "expected a list of tensors, loops, conditions or blocks");
    for (const Doc& item : list.items()) element(item, scope);
  }

  void allow_only(const Doc& node, std::initializer_list<const char*> allowed,
                  const char* what) const {
    for (const auto& entry : node.entries()) {
      std::string k = str(entry.first);
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }))
        throw Error(pos_of(file_, entry.first), "unknown field '" + k + "' in " + what);
    }
  }

  void element(const Doc& node, const Scope& outer) {
    if (!node.IsMap())
      throw Error(pos_of(file_, node), "expected a tensor, loop, condition or block");
    if (node["then"] || node["else"]) {
      allow_only(node, {"if", "then", "else"}, "a condition");
      if (!node["if"]) throw Error(pos_of(file_, node), "'then' without 'if'");
      elements(eval_bool(node["if"], outer) ? node["then"] : node["else"], outer);
      return;
    }
    if (node["if"] && !eval_bool(node["if"], outer)) return;
    Scope scope{&outer, {}, {}};
    if (node["key"]) {
      allow_only(node, {"key", "shape", "dtype", "if", "made_by"}, "a tensor");
      tensor(node, scope);
    } else if (node["for"]) {
      allow_only(node, {"for", "let", "tensors", "if"}, "a loop");
      loop(node, scope);
    } else if (node["use"]) {
      allow_only(node, {"use", "with", "let", "if"}, "a block use");
      use(node, scope);
    } else if (node["fail"]) {
      allow_only(node, {"fail", "if"}, "a failure");
      throw Error(pos_of(file_, node["fail"]),
                  "this config cannot be laid out: " + subst(node["fail"], scope));
    } else if (node["tensors"]) {
      allow_only(node, {"let", "tensors", "if"}, "a group");
      bind_lets(node["let"], scope);
      elements(node["tensors"], scope);
    } else {
      throw Error(pos_of(file_, node),
                  "expected 'key' (a tensor), 'for' (a loop), 'if'/'then' (a condition), "
                  "'use' (a block), 'tensors' (a group) or 'fail'");
    }
  }

  void loop(const Doc& node, Scope& scope) {
    const Doc& spec = node["for"];
    if (!spec.IsMap() || spec.size() != 1)
      throw Error(pos_of(file_, spec), "'for' needs one variable: {name: count or list}");
    std::string var = str(spec.entries().front().first);
    json range = eval(spec.entries().front().second, scope);
    std::vector<json> values;
    if (range.is_number_integer()) {
      for (int64_t i = 0; i < range.get<int64_t>(); ++i) values.push_back(i);
    } else if (range.is_array()) {
      values.assign(range.begin(), range.end());
    } else {
      throw Error(pos_of(file_, spec.entries().front().second),
                  "'for' needs a count or a list, found " +
                      range.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    for (const json& v : values) {
      Scope iteration{&scope, {{var, v}}, {}};
      bind_lets(node["let"], iteration);
      elements(node["tensors"], iteration);
    }
  }

  void use(const Doc& node, Scope& scope) {
    std::string name = subst(node["use"], scope);
    auto it = blocks_.find(name);
    if (it == blocks_.end())
      throw Error(pos_of(file_, node["use"]), "undefined block '" + name + "'");
    const Doc& block = *it->second.node;
    // Positions inside the block point into the file that defines it.
    struct FileSwap {
      std::string& current;
      std::string saved;
      ~FileSwap() { current = saved; }
    } restore{file_, file_};
    std::set<std::string> params;
    if (block["params"])
      for (const Doc& p : block["params"].items()) params.insert(str(p));
    if (node["with"])
      for (const auto& entry : node["with"].entries()) {
        std::string param = str(entry.first);
        if (!params.count(param))
          throw Error(pos_of(file_, entry.first),
                      "block '" + name + "' has no parameter '" + param + "'");
        scope.params[param] = subst(entry.second, scope);
      }
    for (const std::string& p : params)
      if (!scope.params.count(p))
        throw Error(pos_of(file_, node), "block '" + name + "' needs parameter '" + p + "'");
    bind_lets(node["let"], scope);
    file_ = it->second.file;
    bind_lets(block["let"], scope);
    elements(block["tensors"], scope);
  }

  void tensor(const Doc& node, const Scope& scope) {
    TensorSpec spec;
    spec.key = expand_key(node["key"], scope);
    if (const Doc& shape = node["shape"]) {
      if (!shape.IsSequence()) throw Error(pos_of(file_, shape), "'shape' needs a list of sizes");
      for (const Doc& dim : shape.items()) {
        int64_t size = eval_int(dim, scope);
        if (size < 0)
          throw Error(pos_of(file_, dim),
                      "size " + std::to_string(size) + " of '" + spec.key + "' is negative");
        spec.shape.push_back(size);
      }
    } else {
      throw Error(pos_of(file_, node), "tensor '" + spec.key + "' needs a 'shape'");
    }
    const std::string dtype = node["dtype"] ? subst(node["dtype"], scope) : default_dtype_;
    if (dtype.empty())
      throw Error(pos_of(file_, node),
                  "tensor '" + spec.key + "' needs a 'dtype' (or a file-wide 'dtype')");
    spec.dtype = find_dtype(dtype);
    if (!spec.dtype)
      throw Error(pos_of(file_, node["dtype"] ? node["dtype"] : node),
                  "unknown dtype '" + dtype + "'");
    if (!keys_.insert(spec.key).second)
      throw Error(pos_of(file_, node), "key '" + spec.key + "' is produced twice");
    if (const Doc& ops = node["made_by"]) {
      if (!ops.IsSequence()) throw Error(pos_of(file_, ops), "'made_by' needs a list of op kinds");
      for (const Doc& op : ops.items()) made_by_[spec.key].push_back(str(op));
    }
    out_.push_back(std::move(spec));
  }

  // "model.layers.{layer}.mlp" with layer = 3 -> "model.layers.3.mlp".
  std::string expand_key(const Doc& node, const Scope& scope) const {
    std::string raw = subst(node, scope), out;
    ExprEnv e = env(scope);
    size_t i = 0;
    while (i < raw.size()) {
      size_t open = raw.find('{', i);
      if (open == std::string::npos) {
        out += raw.substr(i);
        break;
      }
      size_t close = raw.find('}', open);
      if (close == std::string::npos)
        throw Error(pos_of(file_, node), "'{' without a closing '}' in '" + raw + "'");
      out += raw.substr(i, open - i);
      std::string name = raw.substr(open + 1, close - open - 1);
      const json* value = e.find(name);
      if (!value)
        throw Error(pos_of(file_, node), "unknown variable {" + name + "} in key '" + raw + "'");
      out += value->is_string() ? value->get<std::string>()
                                : value->dump(-1, ' ', false, json::error_handler_t::replace);
      i = close + 1;
    }
    return out;
  }

  std::string file_;
  Doc root_;
  const json& config_;
  std::vector<const json*> sections_;
  std::string default_dtype_;
  mutable std::unordered_map<std::string, Expr> exprs_;
  std::deque<Doc> included_;  // stable: blocks point into them
  std::set<std::string> included_paths_;
  struct Block {
    const Doc* node;  // in root_ or included_
    std::string file;
  };
  std::map<std::string, Block> blocks_;
  std::string current_load_file_;
  Scope globals_;
  std::vector<TensorSpec> out_;
  std::map<std::string, std::vector<std::string>> made_by_;
  std::set<std::string> keys_;
};

bool supports_fused(const LayoutFile& file) {
  const Doc& fused = file.root["fused_experts"];
  return fused && fused.IsScalar() && fused.Scalar() == "true";
}

json read_config(const std::string& model_type, const std::vector<std::string>& chains_dirs,
                 const std::string& suffix) {
  const std::vector<std::string> dirs = layouts_dirs(chains_dirs);
  for (const std::string& dir : dirs) {
    fs::path path = fs::path(dir) / (model_type + suffix);
    std::error_code ec;
    if (fs::exists(path, ec)) return read_config_file(path.string());
  }
  throw NotFoundError(NotFoundError::Kind::config,
                      "no config '" + model_type + suffix + "' for model_type '" + model_type +
                          "' (" + (chains_dirs.empty() ? searched_dirs({}) : searched_dirs(dirs)) +
                          ")");
}

Layout evaluate(const LayoutFile& file, const json& config, ExpertLayout experts) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string())
    throw Error("config.json has no field 'model_type' (a string naming the model type)");
  Layout layout;
  layout.model_type = config["model_type"].get<std::string>();
  if (experts == ExpertLayout::fused && !supports_fused(file))
    throw Error(
        Position{file.path, 0, 0},
        "model_type '" + layout.model_type +
            "' has no fused experts layout (its layout file does not set fused_experts: true)");
  Interpreter interpreter(file, config, experts == ExpertLayout::fused);
  layout.tensors = interpreter.run();
  layout.made_by = interpreter.take_made_by();
  sort_naturally(layout.tensors, [](const TensorSpec& t) -> std::string_view { return t.key; });
  return layout;
}

}  // namespace

Layout make_layout(const json& config, ExpertLayout experts,
                   const std::vector<std::string>& chains_dirs) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string())
    throw Error("config.json has no field 'model_type' (a string naming the model type)");
  return evaluate(load_layout(find_layout_path(config["model_type"], chains_dirs)), config,
                  experts);
}

std::optional<Layout> make_target_layout(const json& config, const std::string& target,
                                         const std::vector<std::string>& chains_dirs) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string())
    throw Error("config.json has no field 'model_type' (a string naming the model type)");
  std::string path;
  try {
    path = find_layout_path(config["model_type"], chains_dirs, target);
  } catch (const NotFoundError&) {
    return std::nullopt;
  }
  return evaluate(load_layout(path), config, ExpertLayout::per_expert);
}

Layout make_layout(const json& config, ExpertLayout experts, const std::string& chains_dir) {
  return make_layout(config, experts, std::vector<std::string>{chains_dir});
}

Layout make_layout_from_file(const std::string& layout_file, const json& config,
                             ExpertLayout experts) {
  return evaluate(load_layout(layout_file), config, experts);
}

std::string find_layout_file(const std::string& model_type,
                             const std::vector<std::string>& chains_dirs) {
  return find_layout_path(model_type, chains_dirs);
}

bool has_fused_layout(const std::string& model_type, const std::vector<std::string>& chains_dirs) {
  return supports_fused(load_layout(find_layout_path(model_type, chains_dirs)));
}

bool has_fused_layout(const std::string& model_type, const std::string& chains_dir) {
  return has_fused_layout(model_type, std::vector<std::string>{chains_dir});
}

std::vector<std::string> layout_model_types(const std::string& layout_file) {
  const LayoutFile file = load_layout(layout_file);
  std::vector<std::string> types;
  if (const Doc& list = file.root["model_types"]; list.IsSequence())
    for (const Doc& type : list.items())
      if (type.IsScalar()) types.push_back(type.Scalar());
  return types;
}

json tiny_config(const std::string& model_type, const std::vector<std::string>& chains_dirs) {
  return read_config(model_type, chains_dirs, ".config.json");
}

json tiny_config(const std::string& model_type, const std::string& chains_dir) {
  return tiny_config(model_type, std::vector<std::string>{chains_dir});
}

json full_config(const std::string& model_type, const std::vector<std::string>& chains_dirs) {
  return read_config(model_type, chains_dirs, ".full.config.json");
}

json full_config(const std::string& model_type, const std::string& chains_dir) {
  return full_config(model_type, std::vector<std::string>{chains_dir});
}

}  // namespace chainconv

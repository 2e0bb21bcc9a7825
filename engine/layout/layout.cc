// Interprets a layout file against a config: loops, conditions, lets and blocks over the
// expression language of layout/expr.h. The format is documented in chains/layouts/README.md.
#include "layout/layout.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "core/dtypes.h"
#include "core/error.h"
#include "core/json_parse.h"
#include "core/params.h"
#include "core/read_file.h"
#include "layout/expr.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace chainconv {
namespace {

struct LayoutFile {
  std::string path;
  YAML::Node root;
};

SourcePos pos_of(const std::string& file, const YAML::Node& node) {
  return SourcePos{file, node.Mark().line + 1, node.Mark().column + 1};
}

YAML::Node load_yaml(const std::string& path) {
  try {
    return YAML::Load(read_regular_file(path, kMaxTextFileSize, "layout file"));
  } catch (const YAML::Exception& e) {
    throw Error(SourcePos{path, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
}

// model_type -> layout file, from the top-level *.yaml files of <chains_dir>/layouts.
std::map<std::string, std::string> scan_layouts(const std::string& chains_dir) {
  fs::path dir = fs::path(chains_dir) / "layouts";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("layouts directory '" + dir.string() + "' does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> by_type;
  for (const fs::path& file : files) {
    YAML::Node root = load_yaml(file.string());
    YAML::Node types = root["model_types"];
    if (!types || !types.IsSequence())
      throw Error(SourcePos{file.string(), 1, 1},
                  "a layout file needs 'model_types', a list of model_type names");
    for (const auto& type : types) {
      auto [it, inserted] = by_type.emplace(type.as<std::string>(), file.string());
      if (!inserted)
        throw Error(pos_of(file.string(), type),
                    "model type '" + it->first + "' already has a layout in " + it->second);
    }
  }
  return by_type;
}

LayoutFile find_layout(const std::string& model_type, const std::string& chains_dir) {
  auto by_type = scan_layouts(chains_dir);
  auto it = by_type.find(model_type);
  if (it == by_type.end()) {
    std::string known;
    for (const auto& [type, file] : by_type) known += (known.empty() ? "" : ", ") + type;
    throw Error("no layout for model_type '" + model_type + "' in " + chains_dir +
                "/layouts (known: " + known + ")");
  }
  return {it->second, load_yaml(it->second)};
}

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
    if (YAML::Node sections = root_["config_sections"])
      for (const auto& s : sections) {
        std::string name = s.as<std::string>();
        if (config_.contains(name) && config_[name].is_object())
          sections_.push_back(&config_[name]);
      }
    if (YAML::Node d = root_["dtype"]) default_dtype_ = d.as<std::string>();
    current_load_file_ = file_;
    load_blocks(root_, fs::path(file_).parent_path());
    globals_.vars["fused"] = fused;
  }

  std::vector<TensorSpec> run() {
    Scope scope{&globals_, {}, {}};
    bind_lets(root_["let"], scope);
    elements(root_["tensors"], scope);
    return std::move(out_);
  }

 private:
  void load_blocks(const YAML::Node& root, const fs::path& dir) {
    if (YAML::Node includes = root["include"])
      for (const auto& inc : includes) {
        fs::path path = dir / inc.as<std::string>();
        if (!fs::is_regular_file(path))
          throw Error(pos_of(current_load_file_, inc),
                      "cannot include '" + path.string() + "': no such file");
        if (!included_paths_.insert(fs::weakly_canonical(path).string()).second) continue;
        YAML::Node lib = load_yaml(path.string());
        included_.push_back(lib);
        std::string outer = current_load_file_;
        current_load_file_ = path.string();
        load_blocks(lib, path.parent_path());
        current_load_file_ = outer;
      }
    if (YAML::Node blocks = root["blocks"])
      for (const auto& entry : blocks) {
        std::string name = entry.first.as<std::string>();
        if (!blocks_.emplace(name, Block{entry.second, current_load_file_}).second)
          throw Error(pos_of(current_load_file_, entry.first),
                      "block '" + name + "' is defined twice");
      }
  }

  std::string where(const YAML::Node& node) const { return pos_of(file_, node).str(); }

  std::string subst(const YAML::Node& node, const Scope& scope) const {
    if (!node.IsScalar()) throw Error(pos_of(file_, node), "expected a scalar");
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

  json eval(const YAML::Node& node, const Scope& scope) const {
    return Expr::parse(subst(node, scope), where(node)).eval(env(scope));
  }
  int64_t eval_int(const YAML::Node& node, const Scope& scope) const {
    return Expr::parse(subst(node, scope), where(node)).eval_int(env(scope));
  }
  bool eval_bool(const YAML::Node& node, const Scope& scope) const {
    return Expr::parse(subst(node, scope), where(node)).eval_bool(env(scope));
  }

  void bind_lets(const YAML::Node& lets, Scope& scope) const {
    if (!lets) return;
    if (!lets.IsMap())
      throw Error(pos_of(file_, lets), "'let' needs a mapping of names to expressions");
    for (const auto& entry : lets)
      scope.vars[entry.first.as<std::string>()] = eval(entry.second, scope);
  }

  void elements(const YAML::Node& list, const Scope& scope) {
    if (!list) return;
    if (!list.IsSequence())
      throw Error(pos_of(file_, list), "expected a list of tensors, loops, conditions or blocks");
    for (const auto& item : list) element(item, scope);
  }

  void allow_only(const YAML::Node& node, std::initializer_list<const char*> allowed,
                  const char* what) const {
    for (const auto& entry : node) {
      std::string k = entry.first.as<std::string>();
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }))
        throw Error(pos_of(file_, entry.first), "unknown field '" + k + "' in " + what);
    }
  }

  void element(const YAML::Node& node, const Scope& outer) {
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
      allow_only(node, {"key", "shape", "dtype", "if"}, "a tensor");
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

  void loop(const YAML::Node& node, Scope& scope) {
    YAML::Node spec = node["for"];
    if (!spec.IsMap() || spec.size() != 1)
      throw Error(pos_of(file_, spec), "'for' needs one variable: {name: count or list}");
    std::string var = spec.begin()->first.as<std::string>();
    json range = eval(spec.begin()->second, scope);
    std::vector<json> values;
    if (range.is_number_integer()) {
      for (int64_t i = 0; i < range.get<int64_t>(); ++i) values.push_back(i);
    } else if (range.is_array()) {
      values.assign(range.begin(), range.end());
    } else {
      throw Error(pos_of(file_, spec.begin()->second),
                  "'for' needs a count or a list, found " +
                      range.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    for (const json& v : values) {
      Scope iteration{&scope, {{var, v}}, {}};
      bind_lets(node["let"], iteration);
      elements(node["tensors"], iteration);
    }
  }

  void use(const YAML::Node& node, Scope& scope) {
    std::string name = subst(node["use"], scope);
    auto it = blocks_.find(name);
    if (it == blocks_.end())
      throw Error(pos_of(file_, node["use"]), "undefined block '" + name + "'");
    const YAML::Node& block = it->second.node;
    // Positions inside the block point into the file that defines it.
    struct FileSwap {
      std::string& current;
      std::string saved;
      ~FileSwap() { current = saved; }
    } restore{file_, file_};
    std::set<std::string> params;
    if (block["params"])
      for (const auto& p : block["params"]) params.insert(p.as<std::string>());
    if (node["with"])
      for (const auto& entry : node["with"]) {
        std::string param = entry.first.as<std::string>();
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

  void tensor(const YAML::Node& node, const Scope& scope) {
    TensorSpec spec;
    spec.key = expand_key(node["key"], scope);
    if (YAML::Node shape = node["shape"]) {
      if (!shape.IsSequence()) throw Error(pos_of(file_, shape), "'shape' needs a list of sizes");
      for (const auto& dim : shape) {
        int64_t size = eval_int(dim, scope);
        if (size < 0)
          throw Error(pos_of(file_, dim),
                      "size " + std::to_string(size) + " of '" + spec.key + "' is negative");
        spec.shape.push_back(size);
      }
    } else {
      throw Error(pos_of(file_, node), "tensor '" + spec.key + "' needs a 'shape'");
    }
    spec.dtype = node["dtype"] ? subst(node["dtype"], scope) : default_dtype_;
    if (spec.dtype.empty())
      throw Error(pos_of(file_, node),
                  "tensor '" + spec.key + "' needs a 'dtype' (or a file-wide 'dtype')");
    if (!find_dtype(spec.dtype))
      throw Error(pos_of(file_, node["dtype"] ? node["dtype"] : node),
                  "unknown dtype '" + spec.dtype + "'");
    if (!keys_.insert(spec.key).second)
      throw Error(pos_of(file_, node), "key '" + spec.key + "' is produced twice");
    out_.push_back(std::move(spec));
  }

  // "model.layers.{layer}.mlp" with layer = 3 -> "model.layers.3.mlp".
  std::string expand_key(const YAML::Node& node, const Scope& scope) const {
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
  YAML::Node root_;
  const json& config_;
  std::vector<const json*> sections_;
  std::string default_dtype_;
  std::vector<YAML::Node> included_;
  std::set<std::string> included_paths_;
  struct Block {
    YAML::Node node;
    std::string file;
  };
  std::map<std::string, Block> blocks_;
  std::string current_load_file_;
  Scope globals_;
  std::vector<TensorSpec> out_;
  std::set<std::string> keys_;
};

bool supports_fused(const LayoutFile& file) {
  YAML::Node fused = file.root["fused_experts"];
  return fused && fused.as<bool>();
}

json read_config(const std::string& model_type, const std::string& chains_dir,
                 const std::string& suffix) {
  fs::path path = fs::path(chains_dir) / "layouts" / (model_type + suffix);
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error("no config '" + path.string() + "' for model_type '" + model_type + "'");
  return parse_json(read_regular_file(path.string(), kMaxTextFileSize, "config"), path.string());
}

}  // namespace

Layout make_layout(const json& config, ExpertLayout experts, const std::string& chains_dir) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string())
    throw Error("config.json has no field 'model_type' (a string naming the model type)");
  Layout layout;
  layout.model_type = config["model_type"].get<std::string>();
  LayoutFile file = find_layout(layout.model_type, chains_dir);
  if (experts == ExpertLayout::fused && !supports_fused(file))
    throw Error(
        SourcePos{file.path, 0, 0},
        "model_type '" + layout.model_type +
            "' has no fused experts layout (its layout file does not set fused_experts: true)");
  layout.tensors = Interpreter(file, config, experts == ExpertLayout::fused).run();
  std::sort(layout.tensors.begin(), layout.tensors.end(),
            [](const TensorSpec& a, const TensorSpec& b) { return natural_less(a.key, b.key); });
  return layout;
}

bool has_fused_layout(const std::string& model_type, const std::string& chains_dir) {
  return supports_fused(find_layout(model_type, chains_dir));
}

json tiny_config(const std::string& model_type, const std::string& chains_dir) {
  return read_config(model_type, chains_dir, ".config.json");
}

json full_config(const std::string& model_type, const std::string& chains_dir) {
  return read_config(model_type, chains_dir, ".full.config.json");
}

}  // namespace chainconv

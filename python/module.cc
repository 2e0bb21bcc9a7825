// The Python module `chainconv`: chainconv::api over dict[str, torch.Tensor], in place.
//
// Tensors cross the boundary through torch's own casters (libtorch_python), so a
// torch.Tensor and the at::Tensor the library sees are one TensorImpl: nothing is copied,
// a renamed tensor comes back as the very same Python object, and an unstacked expert is a
// view of the stacked tensor.
#include <torch/csrc/DynamicTypes.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <chainconv/chainconv.h>

#include <optional>
#include <unordered_map>

namespace py = pybind11;
namespace api = chainconv::api;

namespace {

// The library's Error type object, created once with the module and kept for the process.
PyObject* error_type = nullptr;

api::TensorMap tensors_of(const py::dict& state_dict) {
  api::TensorMap tensors;
  tensors.reserve(state_dict.size());
  for (const auto& [key, value] : state_dict) {
    if (!py::isinstance<py::str>(key))
      throw py::type_error("state dict keys must be str, found " +
                           py::repr(key).cast<std::string>());
    std::string name = key.cast<std::string>();
    if (!THPVariable_Check(value.ptr()))
      throw py::type_error("state dict value '" + name + "' is not a torch.Tensor but " +
                           py::repr(py::type::of(value)).cast<std::string>());
    tensors.emplace(std::move(name), THPVariable_Unpack(value.ptr()));
  }
  return tensors;
}

py::list warning_strings(const std::vector<api::Warning>& warnings) {
  py::list out;
  for (const api::Warning& w : warnings) out.append(w.str());
  return out;
}

api::Direction direction_of(const std::string& name) {
  if (name == "to_prime") return api::Direction::to_prime;
  if (name == "to_hf") return api::Direction::to_hf;
  throw py::value_error("direction must be 'to_prime' or 'to_hf', not '" + name + "'");
}

// The keyword arguments every conversion takes.
// chains_dir (the old argument) is the one directory, as in C++; chains_dirs a search path
// before the default.
api::Lookup lookup_of(const std::string& chains_dir, const std::vector<std::string>& chains_dirs) {
  api::Lookup lookup;
  lookup.chains_dirs = chains_dirs;
  if (!chains_dir.empty()) {
    lookup.chains_dirs.push_back(chains_dir);
    lookup.default_dir = false;
  }
  return lookup;
}

// The keyword arguments every conversion takes. `params` maps chain parameter names to
// values (str, int, bool, or a list of ints); `config` is config.json as a dict or its text.
struct PyOptions {
  int64_t expert_offset = 0;
  bool strict = false;
  py::object params = py::none();
  py::object config = py::none();
};

std::string param_text(const std::string& name, const py::handle& value) {
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::int_>(value)) return std::to_string(value.cast<int64_t>());
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    std::string out;
    for (const py::handle& item : value) {
      if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item))
        throw py::type_error("params['" + name + "']: a list parameter takes ints");
      out += (out.empty() ? "" : ",") + std::to_string(item.cast<int64_t>());
    }
    return out;
  }
  throw py::type_error("params['" + name + "'] must be a str, int, bool or list of ints");
}

api::Options options_of(const PyOptions& o) {
  api::Options options;
  options.expert_offset = o.expert_offset;
  options.strict = o.strict;
  if (!o.params.is_none()) {
    if (!py::isinstance<py::dict>(o.params)) throw py::type_error("params must be a dict");
    for (const auto& [key, value] : o.params.cast<py::dict>()) {
      const std::string name = py::str(key);
      options.params[name] = param_text(name, value);
    }
  }
  if (py::isinstance<py::str>(o.config))
    options.config = o.config.cast<std::string>();
  else if (py::isinstance<py::dict>(o.config))
    options.config = py::module_::import("json").attr("dumps")(o.config).cast<std::string>();
  else if (!o.config.is_none())
    throw py::type_error("config must be a dict (config.json's contents) or its JSON text");
  return options;
}

api::Options options_of(int64_t expert_offset, bool strict, const py::object& params,
                        const py::object& config) {
  return options_of(PyOptions{expert_offset, strict, params, config});
}

// The dict's entries as views: its own key strings (UTF-8, cached by CPython in each str)
// and tensors, nothing copied. `objects[2 * i]` and `objects[2 * i + 1]` are the key and
// tensor objects of `refs[i]`, borrowed.
void view_dict(PyObject* dict, std::vector<api::TensorRef>& refs, std::vector<PyObject*>& objects) {
  const Py_ssize_t n = PyDict_Size(dict);
  refs.reserve(static_cast<size_t>(n));
  objects.reserve(2 * static_cast<size_t>(n));
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(dict, &pos, &key, &value)) {
    if (!PyUnicode_Check(key))
      throw py::type_error("state dict keys must be str, found " +
                           py::repr(py::handle(key)).cast<std::string>());
    Py_ssize_t length = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(key, &length);
    if (!utf8) throw py::error_already_set();
    if (!THPVariable_Check(value))
      throw py::type_error("state dict value '" + std::string(utf8, static_cast<size_t>(length)) +
                           "' is not a torch.Tensor but " +
                           py::repr(py::type::of(py::handle(value))).cast<std::string>());
    refs.push_back(
        {std::string_view(utf8, static_cast<size_t>(length)), &THPVariable_Unpack(value)});
    objects.push_back(key);
    objects.push_back(value);
  }
}

// The str objects of a compiled conversion's output keys, made once per conversion (by its
// id; the cache is bounded, and guarded by the GIL like every Python object).
const std::vector<py::object>& output_key_objects(const api::Replay& replay) {
  static std::unordered_map<uint64_t, std::vector<py::object>> cache;
  auto it = cache.find(replay.id());
  if (it != cache.end()) return it->second;
  if (cache.size() >= 1024) cache.clear();
  std::vector<py::object> keys;
  keys.reserve(replay.output_keys().size());
  for (const std::string& key : replay.output_keys()) keys.push_back(py::str(key));
  return cache.emplace(replay.id(), std::move(keys)).first->second;
}

// Strong references to the objects of a dict's entries, for a stretch without the GIL, in
// which another thread may change the dict: the key strings and tensors a conversion reads
// (borrowed, not copied) stay alive. Released with the GIL held again.
class HeldObjects {
 public:
  explicit HeldObjects(const std::vector<PyObject*>& objects) : objects_(objects) {
    for (PyObject* o : objects_) Py_INCREF(o);
  }
  ~HeldObjects() {
    for (PyObject* o : objects_) Py_DECREF(o);
  }
  HeldObjects(const HeldObjects&) = delete;
  HeldObjects& operator=(const HeldObjects&) = delete;

 private:
  const std::vector<PyObject*>& objects_;
};

// Makes `dict` hold the outputs of `replay` run on its entries (`objects` as view_dict made
// them, `order` as the run gave it), with the fewest dict operations: inputs no output passes
// through leave, new outputs enter, keys no op touched stay as they are.
void update_dict(PyObject* dict, const std::vector<PyObject*>& objects, const api::Replay& replay,
                 const std::vector<uint32_t>& order, std::vector<at::Tensor>& outputs) {
  const std::vector<int32_t>& passthrough = replay.passthrough();
  std::vector<bool> kept(order.size(), false);
  for (int32_t input : passthrough)
    if (input >= 0) kept[static_cast<size_t>(input)] = true;
  // A subclass keeps bookkeeping of its own beside the dict's table (an OrderedDict, which
  // nn.Module.state_dict() returns, links its keys in order): it is changed through its own
  // methods, or the two would disagree. A plain dict is changed directly.
  const bool plain = PyDict_CheckExact(dict);
  const std::vector<py::object>& out_keys = output_key_objects(replay);
  for (size_t i = 0; i < order.size(); ++i) {
    if (kept[i]) continue;
    PyObject* key = objects[2 * order[i]];
    if ((plain ? PyDict_DelItem(dict, key) : PyObject_DelItem(dict, key)) != 0) {
      if (!PyErr_ExceptionMatches(PyExc_KeyError)) throw py::error_already_set();
      PyErr_Clear();  // gone already: removed by another thread meanwhile
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (passthrough[i] >= 0) continue;
    py::object value = py::reinterpret_steal<py::object>(THPVariable_Wrap(std::move(outputs[i])));
    PyObject* key = out_keys[i].ptr();
    if ((plain ? PyDict_SetItem(dict, key, value.ptr())
               : PyObject_SetItem(dict, key, value.ptr())) != 0)
      throw py::error_already_set();
  }
}

// Runs `run` (a key set -> api::Converted) on the dict's own entries, without the GIL, then
// updates the dict in place (update_dict). Every failure happens before the dict changes.
template <class Run>
api::Converted in_place(PyObject* dict, Run&& run) {
  std::vector<api::TensorRef> refs;
  std::vector<PyObject*> objects;  // each entry's key, then its tensor
  view_dict(dict, refs, objects);
  const HeldObjects held(objects);
  std::optional<api::Converted> converted;
  {
    py::gil_scoped_release no_gil;  // reads only the held keys and tensors
    converted = run(refs);
  }
  update_dict(dict, objects, converted->replay, converted->order, converted->outputs);
  return std::move(*converted);
}

// The conversion of a key set the chain has converted before is looked up (chain.compile's
// cache), not worked out again; the look-up runs without the GIL too.
py::list convert(const api::Chain& chain, py::dict state_dict, api::Direction direction,
                 const api::Options& options) {
  const api::Converted converted = in_place(
      state_dict.ptr(), [&](const auto& refs) { return chain.convert(refs, direction, options); });
  return warning_strings(converted.replay.warnings());
}

py::list plan(const api::Chain& chain, const py::dict& state_dict, const std::string& direction,
              int64_t expert_offset, bool strict, const py::object& params,
              const py::object& config) {
  const api::Options options = options_of(expert_offset, strict, params, config);
  api::Plan plan = chain.plan(tensors_of(state_dict), direction_of(direction), options);
  py::list entries;
  for (const api::PlanEntry& e : plan.entries) {
    py::list steps;
    for (const api::PlanStep& s : e.steps) steps.append(py::make_tuple(s.op, s.pos.str()));
    py::dict entry;
    entry["key"] = e.key;
    entry["shape"] = py::tuple(py::cast(e.shape));
    entry["dtype"] = py::reinterpret_borrow<py::object>(
        reinterpret_cast<PyObject*>(torch::getTHPDtype(e.dtype)));
    entry["sources"] = e.sources;
    entry["steps"] = steps;
    entries.append(entry);
  }
  return entries;
}

api::Replay compile(const api::Chain& chain, const py::dict& state_dict,
                    const std::string& direction, int64_t expert_offset, bool strict,
                    const py::object& params, const py::object& config) {
  const api::Options options = options_of(expert_offset, strict, params, config);
  std::vector<api::TensorRef> refs;
  std::vector<PyObject*> keys;
  view_dict(state_dict.ptr(), refs, keys);
  return chain.compile(refs, direction_of(direction), options);
}

void replay_in_place(const api::Replay& replay, py::dict state_dict) {
  in_place(state_dict.ptr(), [&](const auto& refs) {
    std::vector<uint32_t> order;
    std::vector<at::Tensor> outputs = replay.run(refs, &order);
    return api::Converted{replay, std::move(order), std::move(outputs)};
  });
}

py::list replay_list(const api::Replay& replay, const py::sequence& inputs) {
  std::vector<at::Tensor> tensors;
  tensors.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    py::object value = inputs[i];
    if (!THPVariable_Check(value.ptr()))
      throw py::type_error("input " + std::to_string(i) + " is not a torch.Tensor but " +
                           py::repr(py::type::of(value)).cast<std::string>());
    tensors.push_back(THPVariable_Unpack(value.ptr()));
  }
  std::vector<at::Tensor> outputs;
  {
    py::gil_scoped_release no_gil;
    outputs = replay.run(std::move(tensors));
  }
  py::list out;
  for (const at::Tensor& t : outputs)
    out.append(py::reinterpret_steal<py::object>(THPVariable_Wrap(t)));
  return out;
}

void raise_error(const api::Error& e) {
  py::object error = py::reinterpret_borrow<py::object>(error_type)(e.what());
  error.attr("file") = e.pos().file;
  error.attr("line") = e.pos().line;
  error.attr("col") = e.pos().col;
  error.attr("message") = e.message();
  PyErr_SetObject(error_type, error.ptr());
}

}  // namespace

PYBIND11_MODULE(chainconv, m) {
  // torch first: its tensor type must exist before a tensor crosses the boundary.
  py::module_::import("torch");
  m.doc() = "Convert state dicts between HuggingFace and prime layouts, in place, without copies.";

  error_type = py::exception<api::Error>(m, "Error").ptr();
  Py_INCREF(error_type);  // outlives the module object; never released
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const api::Error& e) {
      raise_error(e);
    }
  });

  const char* convert_doc =
      "Converts state_dict (dict[str, torch.Tensor]) in place and returns the warnings.\n"
      "Tensors are not copied: renamed ones are the same objects, unstacked experts and split\n"
      "parts are views. expert_offset is the global index of the first expert the dict holds;\n"
      "strict=True raises warnings as chainconv.Error. params sets the chain's parameters by\n"
      "name (e.g. params={'hf_experts': 'fused'}); config is config.json (a dict or its text)\n"
      "for the ${config.field} values the chain reads. On an error the dict is unchanged.";
  py::class_<api::Chain>(m, "Chain")
      .def_static("load", &api::Chain::load, py::arg("path"), "Loads a chain file.")
      .def_static("from_string", &api::Chain::from_string, py::arg("yaml"),
                  py::arg("name") = "<string>", py::arg("include_dir") = "",
                  "Loads a chain from YAML text; `name` appears in errors.")
      .def_static(
          "for_model_type",
          [](const std::string& model_type, const std::string& chains_dir,
             const std::vector<std::string>& chains_dirs, const std::string& target) {
            api::Lookup lookup = lookup_of(chains_dir, chains_dirs);
            lookup.target = target;
            return api::Chain::for_model_type(model_type, lookup);
          },
          py::arg("model_type"), py::arg("chains_dir") = "", py::kw_only(),
          py::arg("chains_dirs") = std::vector<std::string>{}, py::arg("target") = "prime",
          "The chain serving a config.json model_type and converting to `target` (\"prime\",\n"
          "\"torchtitan\"), from chains_dir alone if given, else\n"
          "from chains_dirs (searched in order) and then default_chains_dir(); the first\n"
          "directory with a chain listing the model type wins.")
      .def(
          "to_prime",
          [](const api::Chain& c, py::dict sd, int64_t expert_offset, bool strict,
             const py::object& params, const py::object& config) {
            return convert(c, sd, api::Direction::to_prime,
                           options_of(expert_offset, strict, params, config));
          },
          py::arg("state_dict"), py::kw_only(), py::arg("expert_offset") = 0,
          py::arg("strict") = false, py::arg("params") = py::none(), py::arg("config") = py::none(),
          convert_doc)
      .def(
          "to_hf",
          [](const api::Chain& c, py::dict sd, int64_t expert_offset, bool strict,
             const py::object& params, const py::object& config) {
            return convert(c, sd, api::Direction::to_hf,
                           options_of(expert_offset, strict, params, config));
          },
          py::arg("state_dict"), py::kw_only(), py::arg("expert_offset") = 0,
          py::arg("strict") = false, py::arg("params") = py::none(), py::arg("config") = py::none(),
          convert_doc)
      .def("plan", &plan, py::arg("state_dict"), py::arg("direction") = "to_prime", py::kw_only(),
           py::arg("expert_offset") = 0, py::arg("strict") = false, py::arg("params") = py::none(),
           py::arg("config") = py::none(),
           "What a conversion would produce, from shapes and dtypes alone: a list of\n"
           "{key, shape, dtype, sources, steps: [(op, 'file:line:col')]}, one per output key.")
      .def(
          "check",
          [](const api::Chain& c, const std::optional<py::dict>& layout, int64_t expert_offset,
             const py::object& params, const py::object& config) {
            const api::Options options = options_of(expert_offset, false, params, config);
            std::vector<api::Finding> findings =
                layout ? c.check(tensors_of(*layout), options) : c.check();
            py::list out;
            for (const api::Finding& f : findings) out.append(f.str());
            return out;
          },
          py::arg("layout") = py::none(), py::kw_only(), py::arg("expert_offset") = 0,
          py::arg("params") = py::none(), py::arg("config") = py::none(),
          "chainlint's checks on the chain, as 'file:line:col: severity: message [check]' lines;\n"
          "with a layout (an HF state dict; only shapes and dtypes are read) also the symbolic\n"
          "roundtrips and coverage.")
      .def("compile", &compile, py::arg("state_dict"), py::arg("direction") = "to_prime",
           py::kw_only(), py::arg("expert_offset") = 0, py::arg("strict") = false,
           py::arg("params") = py::none(), py::arg("config") = py::none(),
           "The conversion of state_dict's key set worked out once (from shapes and dtypes; the\n"
           "dict is not changed), as a Replay to run on new tensors of the same keys.")
      .def_property_readonly("file", &api::Chain::file)
      .def_property_readonly("model_types", &api::Chain::model_types)
      .def_property_readonly("description", &api::Chain::description)
      .def("__repr__", [](const api::Chain& c) { return "<chainconv.Chain " + c.file() + ">"; });

  py::class_<api::Replay>(
      m, "Replay",
      "A conversion compiled for one key set (Chain.compile): run() replays it on new\n"
      "tensors of the same keys, shapes and dtypes at the cost of the tensor work alone.")
      .def("run", &replay_in_place, py::arg("state_dict"),
           "Converts state_dict (its keys exactly input_keys) in place, as Chain.to_prime does.")
      .def("run", &replay_list, py::arg("tensors"),
           "Takes the tensors for input_keys, in order; returns those for output_keys.")
      .def_property_readonly("id", &api::Replay::id,
                             "A number no other compiled conversion has: compiling a key set "
                             "the chain has compiled or converted before gives the same id.")
      .def_property_readonly("input_keys", &api::Replay::input_keys)
      .def_property_readonly("output_keys", &api::Replay::output_keys)
      .def_property_readonly("direction",
                             [](const api::Replay& r) {
                               return r.direction() == api::Direction::to_prime ? "to_prime"
                                                                                : "to_hf";
                             })
      .def_property_readonly("warnings",
                             [](const api::Replay& r) { return warning_strings(r.warnings()); })
      .def("__repr__", [](const api::Replay& r) {
        return "<chainconv.Replay " +
               std::string(r.direction() == api::Direction::to_prime ? "to_prime" : "to_hf") +
               ", " + std::to_string(r.input_keys().size()) + " keys>";
      });

  m.def("default_chains_dir", &api::default_chains_dir, "Where chains are looked up by default.");
  m.def(
      "chains",
      [](const std::string& dir, const std::vector<std::string>& dirs) {
        py::dict out;
        for (const auto& [type, file] : api::chains(lookup_of(dir, dirs)))
          out[py::str(type)] = file;
        return out;
      },
      py::arg("chains_dir") = "", py::kw_only(),
      py::arg("chains_dirs") = std::vector<std::string>{},
      "model_type -> chain file, for every chain found as Chain.for_model_type looks.");
  m.def(
      "search_path",
      [](const std::vector<std::string>& dirs) { return api::search_path(lookup_of("", dirs)); },
      py::arg("chains_dirs") = std::vector<std::string>{},
      "The directories chains are looked up in: chains_dirs, then default_chains_dir().");
}

// chainconv::api::Chain on qwen3_moe and small chains: in-place conversion, views, expert
// offsets, warnings, and errors with positions.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "api/api_support.h"

using namespace api_test;

static const std::string L3 = "model.layers.3.mlp.";

TEST_CASE("to_prime stacks qwen3_moe experts in place and moves renamed tensors without copying") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd = hf_moe_layer(3, 0, 4);
  const cc::TensorMap before = sd;  // handles only: the same tensors

  auto warnings = chain.to_prime(sd);
  CHECK(warnings.empty());
  CHECK(keys_of(sd) == sorted({"model.layers.3.input_layernorm.weight", L3 + "router.gate.weight",
                               L3 + "experts.w1", L3 + "experts.w2", L3 + "experts.w3"}));
  // Renamed and untouched tensors are the very same tensors.
  CHECK(sd.at(L3 + "router.gate.weight").unsafeGetTensorImpl() ==
        before.at(L3 + "gate.weight").unsafeGetTensorImpl());
  CHECK(sd.at("model.layers.3.input_layernorm.weight")
            .is_same(before.at("model.layers.3.input_layernorm.weight")));
  // w1 row e is expert e's gate_proj (values 100e .. 100e+5), w2 its down_proj.
  const at::Tensor& w1 = sd.at(L3 + "experts.w1");
  CHECK(w1.sizes() == at::IntArrayRef{4, 2, 3});
  CHECK(sd.at(L3 + "experts.w2").sizes() == at::IntArrayRef{4, 3, 2});
  for (int e = 0; e < 4; ++e) {
    CHECK(at::equal(w1[e], counting({2, 3}, 100 * e)));
    CHECK(at::equal(sd.at(L3 + "experts.w2")[e], counting({3, 2}, 100 * e + 10)));
    CHECK(at::equal(sd.at(L3 + "experts.w3")[e], counting({2, 3}, 100 * e + 20)));
  }
}

TEST_CASE("to_hf unstacks into views of the stacked tensor numbered from the expert offset") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const at::Tensor w1 = counting({2, 2, 3}, 0), w2 = counting({2, 3, 2}, 50),
                   w3 = counting({2, 2, 3}, 90);
  cc::TensorMap sd{{L3 + "experts.w1", w1}, {L3 + "experts.w2", w2}, {L3 + "experts.w3", w3}};
  cc::Options options;
  options.expert_offset = 6;  // rank 3 of an 8-way shard holding 2 experts each
  chain.to_hf(sd, options);

  std::vector<std::string> expected;
  for (int e : {6, 7})
    for (const char* proj : {"gate_proj", "down_proj", "up_proj"})
      expected.push_back(L3 + "experts." + std::to_string(e) + "." + proj + ".weight");
  CHECK(keys_of(sd) == sorted(expected));
  const at::Tensor& gate7 = sd.at(L3 + "experts.7.gate_proj.weight");
  CHECK(gate7.sizes() == at::IntArrayRef{2, 3});
  CHECK(at::equal(gate7, counting({2, 3}, 6)));  // row 1 of w1: values 6..11
  // A view: w1's storage, six floats in.
  CHECK(gate7.storage().is_alias_of(w1.storage()));
  CHECK(static_cast<const char*>(gate7.data_ptr()) ==
        static_cast<const char*>(w1.data_ptr()) + 6 * sizeof(float));
  CHECK(sd.at(L3 + "experts.6.down_proj.weight").data_ptr() == w2.data_ptr());
}

TEST_CASE("per-layer export of one expert shard gives the HF tensors of those experts") {
  // The trainer's view: the whole prime model is split across two expert-parallel ranks;
  // rank 1 exports layer 3 alone.
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  const cc::TensorMap hf = hf_moe_layer(3, 0, 4);
  cc::TensorMap prime = hf;
  chain.to_prime(prime);

  cc::TensorMap shard;
  for (const char* w : {"w1", "w2", "w3"})
    shard[L3 + "experts." + w] = prime.at(L3 + "experts." + w).narrow(0, 2, 2);
  cc::Options options;
  options.expert_offset = 2;
  chain.to_hf(shard, options);

  REQUIRE(shard.size() == 6);
  for (int e : {2, 3})
    for (const char* proj : {"gate_proj", "down_proj", "up_proj"}) {
      const std::string key = L3 + "experts." + std::to_string(e) + "." + proj + ".weight";
      INFO(key);
      CHECK(at::equal(shard.at(key), hf.at(key)));
    }
}

TEST_CASE("stacking a shard requires the experts from the expert offset") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd = hf_moe_layer(3, 4, 2);  // experts 4 and 5
  cc::Options options;
  options.expert_offset = 4;
  cc::TensorMap shard = sd;
  chain.to_prime(shard, options);
  CHECK(at::equal(shard.at(L3 + "experts.w1")[1], counting({2, 3}, 500)));

  // Read as a shard starting at 0, expert 0 is missing.
  REQUIRE_THROWS_AS(chain.to_prime(sd), cc::Error);
}

TEST_CASE("an expert gap is an Error at the stack op and leaves the dict as it was") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd = hf_moe_layer(3, 0, 4);
  for (const char* proj : {"gate_proj", "down_proj", "up_proj"})
    sd.erase(L3 + "experts.2." + proj + ".weight");
  const cc::TensorMap before = sd;
  try {
    chain.to_prime(sd);
    FAIL("no error for a gap");
  } catch (const cc::Error& e) {
    CHECK_THAT(e.message(), Catch::Contains("'" + L3 + "experts.2.gate_proj.weight' is missing"));
    // The position is the stack op in the chain files: file:line:col, and what() starts with it.
    REQUIRE(e.pos().known());
    CHECK_THAT(line_of(e.pos().file, e.pos().line), Catch::Contains("stack"));
    CHECK(std::string(e.what()).rfind(e.pos().file + ":" + std::to_string(e.pos().line) + ":" +
                                          std::to_string(e.pos().col) + ": ",
                                      0) == 0);
  }
  REQUIRE(keys_of(sd) == keys_of(before));
  for (const auto& [key, tensor] : before) CHECK(sd.at(key).is_same(tensor));
}

// A small chain whose positions are counted by hand: line 5 is the rename, line 6 the stack.
static const std::string kTestChain =
    "version: 1\n"
    "model_types: [api_test]\n"
    "description: API test chain\n"
    "ops:\n"
    "  - rename: {from: [\"a.{i}.w\", \"a.{i}.w_alt\"], to: \"b.{i}.w\"}\n"
    "  - stack: {from: \"b.{i}.w\", to: c, index: i, offset: none}\n";

TEST_CASE("warnings are returned with their position and strict mode throws them") {
  cc::Chain chain = cc::Chain::from_string(kTestChain, "api_test.yaml");
  cc::TensorMap sd{{"a.0.w", counting({2})}, {"a.0.w_alt", counting({2}, 10)}};
  auto warnings = chain.to_prime(sd);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].pos.str() == "api_test.yaml:5:5");
  CHECK_THAT(
      warnings[0].str(),
      Catch::StartsWith("api_test.yaml:5:5: warning: both 'a.0.w' and its alternate 'a.0.w_alt'"));
  CHECK(keys_of(sd) == sorted({"a.0.w_alt", "c"}));

  cc::TensorMap strict_sd{{"a.0.w", counting({2})}, {"a.0.w_alt", counting({2}, 10)}};
  cc::Options strict;
  strict.strict = true;
  try {
    chain.to_prime(strict_sd, strict);
    FAIL("strict mode did not throw");
  } catch (const cc::Error& e) {
    CHECK(e.pos().str() == "api_test.yaml:5:5");
    CHECK_THAT(e.message(), Catch::Contains("(strict mode)"));
  }
  CHECK(keys_of(strict_sd) == sorted({"a.0.w", "a.0.w_alt"}));
}

TEST_CASE("offset none stacks from zero whatever the expert offset") {
  cc::Chain chain = cc::Chain::from_string(kTestChain, "api_test.yaml");
  cc::TensorMap sd{{"c", counting({2, 3})}};
  cc::Options options;
  options.expert_offset = 5;
  chain.to_hf(sd, options);
  CHECK(keys_of(sd) == sorted({"a.0.w", "a.1.w"}));
  CHECK(at::equal(sd.at("a.1.w"), counting({3}, 3)));
}

TEST_CASE("a bad chain is an Error with file line and column") {
  const std::string text =
      "version: 1\nmodel_types: [api_test]\ndescription: bad\nops:\n  - rename: {from: a}\n  - "
      "frobnicate: {}\n";
  try {
    cc::Chain::from_string(text, "bad.yaml");
    FAIL("no error for a bad chain");
  } catch (const cc::Error& e) {
    CHECK(e.pos().file == "bad.yaml");
    CHECK(e.pos().line == 5);
    CHECK_THAT(e.what(), Catch::StartsWith("bad.yaml:5:"));
  }
  try {
    cc::Chain::from_string("version: 1\nops: [\n", "syntax.yaml");
    FAIL("no error for a YAML syntax error");
  } catch (const cc::Error& e) {
    CHECK(e.pos().file == "syntax.yaml");
    CHECK(e.pos().known());
  }
}

TEST_CASE("loading a missing file or an unknown model type is an Error that says what exists") {
  CHECK_THROWS_WITH(cc::Chain::load("/nonexistent/chain.yaml"),
                    Catch::Contains("/nonexistent/chain.yaml"));
  CHECK_THROWS_WITH(cc::Chain::for_model_type("no_such_model"),
                    Catch::Contains("no_such_model") && Catch::Contains("qwen3_moe"));
  CHECK_THROWS_AS(cc::Chain::for_model_type("qwen3_moe", "/nonexistent/chains"), cc::Error);
}

TEST_CASE("an undefined tensor is an Error naming its key") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  cc::TensorMap sd{{"x.weight", at::Tensor()}};
  CHECK_THROWS_WITH(chain.to_prime(sd), Catch::Contains("'x.weight'"));
  CHECK(sd.size() == 1);
}

TEST_CASE("LibTorch failures inside an op come out as chainconv Error") {
  // Stacking a dense and a sparse tensor of the same dtype and shape passes the engine's
  // checks and fails in at::stack.
  cc::Chain chain = cc::Chain::from_string(kTestChain, "api_test.yaml");
  cc::TensorMap sd{{"b.0.w", counting({2, 2})}, {"b.1.w", counting({2, 2}).to_sparse()}};
  CHECK_THROWS_AS(chain.to_prime(sd), cc::Error);
  CHECK(sd.size() == 2);
}

TEST_CASE("the registry lists qwen3_moe and the default chains dir is the source tree") {
  CHECK(cc::default_chains_dir() == CHAINCONV_SOURCE_DIR "/chains");
  bool found = false;
  for (const auto& [type, file] : cc::chains())
    if (type == "qwen3_moe") {
      found = true;
      CHECK(file == CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
    }
  CHECK(found);
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  CHECK(chain.file() == CHAINCONV_SOURCE_DIR "/chains/qwen3_moe.yaml");
  CHECK(chain.model_types() == std::vector<std::string>{"qwen3_moe"});
  cc::Chain copy = chain;  // copies share the compiled chain
  CHECK(copy.file() == chain.file());
}

TEST_CASE("sorted_keys lists keys in natural order") {
  cc::TensorMap sd{
      {"layers.10.w", at::Tensor()}, {"layers.2.w", at::Tensor()}, {"layers.1.w", at::Tensor()}};
  CHECK(cc::sorted_keys(sd) == std::vector<std::string>{"layers.1.w", "layers.2.w", "layers.10.w"});
}

TEST_CASE("check finds nothing wrong with qwen3_moe on its own or on a layer's layout") {
  cc::Chain chain = cc::Chain::for_model_type("qwen3_moe");
  for (const cc::Finding& f : chain.check()) CHECK(f.severity != cc::Finding::Severity::error);
  for (const cc::Finding& f : chain.check(hf_moe_layer(3, 0, 4)))
    CHECK(f.severity != cc::Finding::Severity::error);
}

TEST_CASE("check reports an op that never fires on the layout at its position") {
  // Line 6's rename reads a key the layout does not have.
  const std::string text =
      "version: 1\n"
      "model_types: [api_test]\n"
      "description: check test chain\n"
      "ops:\n"
      "  - rename: {from: a, to: b}\n"
      "  - rename: {from: typo, to: c}\n";
  cc::Chain chain = cc::Chain::from_string(text, "check.yaml");
  const auto findings = chain.check(cc::TensorMap{{"a", counting({2})}});
  bool found = false;
  for (const cc::Finding& f : findings) {
    INFO(f.str());
    if (f.check != "coverage") continue;
    found = true;
    CHECK(f.pos.str() == "check.yaml:6:5");
    CHECK_THAT(f.str(), Catch::StartsWith("check.yaml:6:5: ") && Catch::EndsWith("[coverage]"));
  }
  CHECK(found);
  for (const cc::Finding& f : chain.check()) CHECK(f.check != "coverage");  // needs a layout
}

TEST_CASE("a chain file that is not a regular file is refused, not read or waited on") {
  char dir[] = "/tmp/chainconv-api-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string fifo = std::string(dir) + "/chain.yaml";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  REQUIRE_THROWS_WITH(cc::Chain::load(fifo),
                      Catch::Contains(fifo) && Catch::Contains("not a regular file"));
  REQUIRE_THROWS_WITH(cc::Chain::load("/dev/zero"), Catch::Contains("not a regular file"));
  std::remove(fifo.c_str());
  rmdir(dir);
}

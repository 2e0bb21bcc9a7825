// Conditionals: per-binding dispatch, per-direction evaluation, nesting; and the shared
// routed-experts piece they make possible.
#include "support/support.h"

using namespace chainconv;
using namespace chainconv::testing;

static const char* kExpertsChain = R"(version: 1
model_types: [test]
description: routed experts from the shared piece
include: [common/moe.yaml]
params:  # the piece writes backward the layout this parameter names
  hf_experts: {type: string, values: [per_expert, fused], default: per_expert, doc: layout}
ops:
  - use: routed_experts
    with: {prefix: "model.layers.{layer}.mlp"}
)";

static std::string ek(int layer, int expert, const std::string& proj) {
  return "model.layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(expert) + "." +
         proj + ".weight";
}
static std::string lk(int layer, const std::string& rest) {
  return "model.layers." + std::to_string(layer) + ".mlp.experts." + rest;
}

TEST_CASE("a conditional dispatches per layer: one fused - one per-expert layer in one dict") {
  auto chain = chain_from(kExpertsChain);
  const int E = 2, I = 3, H = 4;
  at::Tensor gate_up = counting({E, 2 * I, H}), down = counting({E, H, I}, 500);
  StateDict sd{{lk(0, "gate_up_proj"), gate_up}, {lk(0, "down_proj"), down}};
  std::vector<at::Tensor> g, d, u;
  for (int e = 0; e < E; ++e) {
    g.push_back(counting({I, H}, 1000 + 100 * e));
    d.push_back(counting({H, I}, 2000 + 100 * e));
    u.push_back(counting({I, H}, 3000 + 100 * e));
    sd.insert(ek(1, e, "gate_proj"), g[e]);
    sd.insert(ek(1, e, "down_proj"), d[e]);
    sd.insert(ek(1, e, "up_proj"), u[e]);
  }
  to_prime(*chain, sd);
  require_same(sd, StateDict{{lk(0, "w1"), gate_up.slice(1, 0, I)},
                             {lk(0, "w2"), down},
                             {lk(0, "w3"), gate_up.slice(1, I, 2 * I)},
                             {lk(1, "w1"), at::stack(g)},
                             {lk(1, "w2"), at::stack(d)},
                             {lk(1, "w3"), at::stack(u)}});

  // Backward always emits per-expert keys: the fused layer comes back canonical.
  to_hf(*chain, sd);
  StateDict expected;
  for (int e = 0; e < E; ++e) {
    expected.insert(ek(0, e, "gate_proj"), gate_up[e].slice(0, 0, I));
    expected.insert(ek(0, e, "down_proj"), down[e]);
    expected.insert(ek(0, e, "up_proj"), gate_up[e].slice(0, I, 2 * I));
    expected.insert(ek(1, e, "gate_proj"), g[e]);
    expected.insert(ek(1, e, "down_proj"), d[e]);
    expected.insert(ek(1, e, "up_proj"), u[e]);
  }
  require_same(sd, expected);
}

TEST_CASE("a conditional evaluates its predicate per direction on the current dict") {
  // The signature key differs by side: 'mixer.q_proj' in HF, 'self_attn.q_proj' in prime.
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: per-direction dispatch
ops:
  - if:
      any:
        - present: "layers.{layer}.mixer.q_proj.weight"
        - present: "layers.{layer}.self_attn.q_proj.weight"
    then:
      - prefix_rename: {from: "layers.{layer}.mixer.", to: "layers.{layer}.self_attn."}
    else:
      - prefix_rename: {from: "layers.{layer}.mixer.", to: "layers.{layer}.mamba."}
)");
  at::Tensor q = counting({2}), o = counting({2}, 10), a = counting({3}, 20), n = counting({1}, 30);
  StateDict sd{{"layers.0.mixer.q_proj.weight", q},
               {"layers.0.mixer.o_proj.weight", o},
               {"layers.1.mixer.A_log", a},
               {"layers.1.norm.weight", n}};
  to_prime(*chain, sd);
  StateDict prime{{"layers.0.self_attn.q_proj.weight", q},
                  {"layers.0.self_attn.o_proj.weight", o},
                  {"layers.1.mamba.A_log", a},
                  {"layers.1.norm.weight", n}};
  require_same(sd, prime);
  to_hf(*chain, sd);
  require_same(sd, StateDict{{"layers.0.mixer.q_proj.weight", q},
                             {"layers.0.mixer.o_proj.weight", o},
                             {"layers.1.mixer.A_log", a},
                             {"layers.1.norm.weight", n}});
}

TEST_CASE("nested conditionals and shape predicates") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: nested
ops:
  - if: {present: "l.{layer}.kind_a"}
    then:
      - rename: {from: "l.{layer}.w", to: "l.{layer}.a_w"}
    else:
      - if: {ndim: {key: "l.{layer}.w", is: 3}}
        then:
          - rename: {from: "l.{layer}.w", to: "l.{layer}.w3d"}
        else:
          - if: {size: {key: "l.{layer}.w", dim: 0, is: 1}}
            then:
              - rename: {from: "l.{layer}.w", to: "l.{layer}.single"}
)");
  StateDict sd{{"l.0.kind_a", counting({1})},
               {"l.0.w", counting({2})},
               {"l.1.w", counting({1, 2, 2})},
               {"l.2.w", counting({1, 4})},
               {"l.3.w", counting({2, 4})}};
  to_prime(*chain, sd);
  CHECK(sd.keys() ==
        std::vector<std::string>{"l.0.a_w", "l.0.kind_a", "l.1.w3d", "l.2.single", "l.3.w"});
}

TEST_CASE("conditionals with all / not / absent") {
  auto chain = chain_from(R"(version: 1
model_types: [test]
description: combinators
ops:
  - if: {all: [{present: "l.{layer}.a"}, {not: {present: "l.{layer}.b"}}, {absent: "l.{layer}.c"}]}
    then:
      - rename: {from: "l.{layer}.a", to: "l.{layer}.only_a"}
)");
  StateDict sd{{"l.0.a", counting({1})},
               {"l.1.a", counting({1})},
               {"l.1.b", counting({1})},
               {"l.2.a", counting({1})},
               {"l.2.c", counting({1})}};
  to_prime(*chain, sd);
  CHECK(sd.keys() == std::vector<std::string>{"l.0.only_a", "l.1.a", "l.1.b", "l.2.a", "l.2.c"});
}

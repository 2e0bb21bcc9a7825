"""HF <-> torchtitan chains (chains/llama.torchtitan.yaml, chains/qwen3.torchtitan.yaml)
against plain torch code written from ../shared/TARGETS.md, never from the chain: the Llama
RoPE row permutation in its index form (§1.2) for several head counts and head dims,
grouped-query attention included, the key names of torchtitan HEAD and of the older
releases (§1.1, §2.1), Qwen3's renames without a permutation (§2.2), Qwen3-MoE's expert
stacking (§2.3); then the CLI on a synthetic checkpoint, both ways, byte for byte."""
import os
import subprocess
import sys

import pytest
import torch

import chainconv

CLI = os.environ["CHAINCONV_CLI"]
sys.path.insert(0, os.path.join(os.environ["CHAINCONV_SOURCE_DIR"], "examples"))
import distributed_export as ep  # noqa: E402  (its safetensors reader)
from rope_reference import hf_to_meta as hf_to_tt  # noqa: E402

# (n_h, n_kv, head_dim, hidden)
SHAPES = [(4, 4, 8, 16), (8, 2, 4, 12), (6, 3, 6, 10), (2, 1, 10, 8), (32, 8, 2, 5)]


def config_of(model_type, n_h, n_kv, hd, hidden):
    return {"model_type": model_type, "hidden_size": hidden, "num_attention_heads": n_h,
            "num_key_value_heads": n_kv, "head_dim": hd, "intermediate_size": 6,
            "num_hidden_layers": 2, "vocab_size": 8, "tie_word_embeddings": False}


def hf_model(n_h, n_kv, hd, hidden, qk_norm=False, dtype=torch.float32):
    g = torch.Generator().manual_seed(n_h * 100 + hd)
    r = lambda *shape: torch.randn(*shape, generator=g).to(dtype)  # noqa: E731
    sd = {"model.embed_tokens.weight": r(8, hidden), "model.norm.weight": r(hidden),
          "lm_head.weight": r(8, hidden)}
    for layer in range(2):
        p = f"model.layers.{layer}."
        sd[p + "self_attn.q_proj.weight"] = r(n_h * hd, hidden)
        sd[p + "self_attn.k_proj.weight"] = r(n_kv * hd, hidden)
        sd[p + "self_attn.v_proj.weight"] = r(n_kv * hd, hidden)
        sd[p + "self_attn.o_proj.weight"] = r(hidden, n_h * hd)
        sd[p + "mlp.gate_proj.weight"] = r(6, hidden)
        sd[p + "mlp.up_proj.weight"] = r(6, hidden)
        sd[p + "mlp.down_proj.weight"] = r(hidden, 6)
        sd[p + "input_layernorm.weight"] = r(hidden)
        sd[p + "post_attention_layernorm.weight"] = r(hidden)
        if qk_norm:
            sd[p + "self_attn.q_norm.weight"] = r(hd)
            sd[p + "self_attn.k_norm.weight"] = r(hd)
    return sd


def expected_torchtitan(hf, n_h, n_kv, names, rope):
    """TARGETS.md §1.1 / §2.1: torchtitan HEAD (qkv_linear.w*, lm_head) or the older names."""
    attn = "attention.qkv_linear." if names == "head" else "attention."
    out = {"tok_embeddings.weight": hf["model.embed_tokens.weight"],
           "norm.weight": hf["model.norm.weight"],
           ("lm_head.weight" if names == "head" else "output.weight"): hf["lm_head.weight"]}
    for layer in range(2):
        p, t = f"model.layers.{layer}.", f"layers.{layer}."
        q, k = hf[p + "self_attn.q_proj.weight"], hf[p + "self_attn.k_proj.weight"]
        out[t + attn + "wq.weight"] = hf_to_tt(q, n_h) if rope else q
        out[t + attn + "wk.weight"] = hf_to_tt(k, n_kv) if rope else k
        out[t + attn + "wv.weight"] = hf[p + "self_attn.v_proj.weight"]
        out[t + "attention.wo.weight"] = hf[p + "self_attn.o_proj.weight"]
        out[t + "feed_forward.w1.weight"] = hf[p + "mlp.gate_proj.weight"]
        out[t + "feed_forward.w3.weight"] = hf[p + "mlp.up_proj.weight"]
        out[t + "feed_forward.w2.weight"] = hf[p + "mlp.down_proj.weight"]
        out[t + "attention_norm.weight"] = hf[p + "input_layernorm.weight"]
        out[t + "ffn_norm.weight"] = hf[p + "post_attention_layernorm.weight"]
        if p + "self_attn.q_norm.weight" in hf:
            out[t + "attention.q_norm.weight"] = hf[p + "self_attn.q_norm.weight"]
            out[t + "attention.k_norm.weight"] = hf[p + "self_attn.k_norm.weight"]
    return out


def check_both_ways(chain, hf, want, config, params=None):
    sd = dict(hf)
    chain.to_prime(sd, config=config, params=params)
    assert sorted(sd) == sorted(want)
    for key, t in want.items():
        assert sd[key].dtype == t.dtype and torch.equal(sd[key], t), key
    chain.to_hf(sd, config=config, params=params)
    assert sorted(sd) == sorted(hf)
    for key, t in hf.items():
        assert torch.equal(sd[key], t), key


@pytest.mark.parametrize("n_h,n_kv,hd,hidden", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_llama_rope_permutation_for_every_head_count(n_h, n_kv, hd, hidden, dtype):
    chain = chainconv.Chain.for_model_type("llama", target="torchtitan")
    hf = hf_model(n_h, n_kv, hd, hidden, dtype=dtype)
    check_both_ways(chain, hf, expected_torchtitan(hf, n_h, n_kv, "head", rope=True),
                    config_of("llama", n_h, n_kv, hd, hidden))


def test_llama_permutation_example_rows():
    # TARGETS.md §1.2: with hd = 8, torchtitan rows 0..7 take HF rows 0,4,1,5,2,6,3,7.
    chain = chainconv.Chain.for_model_type("llama", target="torchtitan")
    hf = hf_model(1, 1, 8, 3)
    rows = torch.arange(8.0).reshape(8, 1).repeat(1, 3)
    hf["model.layers.0.self_attn.q_proj.weight"] = rows.clone()
    sd = dict(hf)
    chain.to_prime(sd, config=config_of("llama", 1, 1, 8, 3))
    got = sd["layers.0.attention.qkv_linear.wq.weight"][:, 0].tolist()
    assert got == [0, 4, 1, 5, 2, 6, 3, 7]


def test_llama_older_names_by_parameter():
    chain = chainconv.Chain.for_model_type("llama", target="torchtitan")
    hf = hf_model(4, 2, 4, 8)
    check_both_ways(chain, hf, expected_torchtitan(hf, 4, 2, "tt_2025_09", rope=True),
                    config_of("llama", 4, 2, 4, 8), params={"names": "tt_2025_09"})


@pytest.mark.parametrize("names", ["head", "tt_2025_12"])
def test_qwen3_renames_without_a_permutation(names):
    chain = chainconv.Chain.for_model_type("qwen3", target="torchtitan")
    hf = hf_model(4, 2, 8, 16, qk_norm=True)
    check_both_ways(chain, hf, expected_torchtitan(hf, 4, 2, names, rope=False),
                    config_of("qwen3", 4, 2, 8, 16), params={"names": names})


def test_the_prime_registry_does_not_serve_a_torchtitan_chain():
    with pytest.raises(chainconv.Error, match="no chain serves model_type 'llama'"):
        chainconv.Chain.for_model_type("llama")
    with pytest.raises(chainconv.Error, match="for target 'torchtitan'"):
        chainconv.Chain.for_model_type("mixtral", target="torchtitan")


@pytest.mark.parametrize("model", ["llama", "qwen3", "qwen3_moe"])
def test_cli_converts_to_torchtitan_and_back_byte_for_byte(tmp_path, model):
    def run(*args):
        r = subprocess.run([CLI, *args], capture_output=True, text=True)
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout
    run("synth", model, str(tmp_path / "hf"), "--seed", "4")
    out = run("convert", str(tmp_path / "hf"), str(tmp_path / "tt"), "--to", "torchtitan",
              "--verify")
    assert "identical except 0 declared lossy" in out
    assert "layers.0.attention.qkv_linear.wq.weight" in run("inspect", str(tmp_path / "tt"))
    run("convert", str(tmp_path / "tt"), str(tmp_path / "back"), "--to", "hf", "--target",
        "torchtitan")
    # The same tensors, byte for byte (their order in the file may differ).
    hf, back = ep.read_checkpoint(str(tmp_path / "hf")), ep.read_checkpoint(str(tmp_path / "back"))
    assert sorted(hf) == sorted(back)
    for key, t in hf.items():
        assert t.dtype == back[key].dtype and torch.equal(t, back[key]), key
    assert "identical to the input" in run("demo", "--model-type", model, "--target", "torchtitan")


@pytest.mark.parametrize("names", ["head", "tt_2025_12"])
def test_qwen3_moe_experts_stack_in_ascending_expert_order(names):
    """TARGETS.md §2.1 / §2.3: w1 (gate) and w3 (up) [E, I, D], w2 (down) [E, D, I], rows in
    ascending integer expert id (10 after 9, not after 1); the router renamed; torchtitan's
    expert_bias has no HF counterpart and is dropped on the way back."""
    E, I, D = 11, 2, 3
    g = torch.Generator().manual_seed(11)
    hf = {"model.layers.0.mlp.gate.weight": torch.randn(E, D, generator=g)}
    for e in range(E):
        x = f"model.layers.0.mlp.experts.{e}."
        hf[x + "gate_proj.weight"] = torch.randn(I, D, generator=g)
        hf[x + "up_proj.weight"] = torch.randn(I, D, generator=g)
        hf[x + "down_proj.weight"] = torch.randn(D, I, generator=g)
    chain = chainconv.Chain.for_model_type("qwen3_moe", target="torchtitan")
    sd = dict(hf)
    chain.to_prime(sd, params={"names": names})
    experts = ("layers.0.moe.routed_experts.inner_experts." if names == "head"
               else "layers.0.moe.experts.")
    w1, w2, w3 = (("w1_EFD", "w2_EDF", "w3_EFD") if names == "head" else ("w1", "w2", "w3"))
    assert sorted(sd) == sorted(["layers.0.moe.router.gate.weight", experts + w1,
                                 experts + w2, experts + w3])
    for e in range(E):
        x = f"model.layers.0.mlp.experts.{e}."
        assert torch.equal(sd[experts + w1][e], hf[x + "gate_proj.weight"])
        assert torch.equal(sd[experts + w3][e], hf[x + "up_proj.weight"])
        assert torch.equal(sd[experts + w2][e], hf[x + "down_proj.weight"])
    assert torch.equal(sd["layers.0.moe.router.gate.weight"], hf["model.layers.0.mlp.gate.weight"])
    sd["layers.0.moe.expert_bias_E" if names == "head" else "layers.0.moe.expert_bias"] = torch.zeros(E)
    chain.to_hf(sd, params={"names": names})
    assert sorted(sd) == sorted(hf)
    for key, t in hf.items():
        assert torch.equal(sd[key], t), key


def test_cli_refuses_two_targets_and_names_the_missing_pair(tmp_path):
    subprocess.run([CLI, "synth", "llama", str(tmp_path / "hf")], check=True, capture_output=True)
    r = subprocess.run([CLI, "convert", str(tmp_path / "hf"), str(tmp_path / "x"), "--to",
                        "torchtitan", "--target", "prime"], capture_output=True, text=True)
    assert r.returncode != 0 and "name two targets" in r.stderr
    r = subprocess.run([CLI, "convert", str(tmp_path / "hf"), str(tmp_path / "y"), "--to",
                        "prime"], capture_output=True, text=True)
    assert r.returncode != 0 and "no chain serves model_type 'llama'" in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()

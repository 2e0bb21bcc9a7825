"""HF <-> torchtitan chains (chains/*.torchtitan.yaml) against plain torch code written
from ../shared/TARGETS.md, never from the chain: the Llama RoPE row permutation in its index
form (§1.2) for several head counts and head dims, grouped-query attention included, the key
names of torchtitan HEAD and of the older releases (§1.1, §2.1), Qwen3's renames without a
permutation (§2.2), Qwen3-MoE's expert stacking (§2.3), DeepSeek-V3's key map, MTP
re-indexing and FP8 dequantization (§3); then the CLI on a synthetic checkpoint, both ways,
byte for byte."""
import json
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


def check_both_ways(chain, hf, want, config, params=None, dropped=()):
    """to_prime gives `want` exactly; to_hf gives `hf` back, less the keys `dropped`."""
    sd = dict(hf)
    chain.to_prime(sd, config=config, params=params)
    assert sorted(sd) == sorted(want)
    for key, t in want.items():
        assert sd[key].dtype == t.dtype and sd[key].shape == t.shape, key
        assert torch.equal(sd[key], t), key
    chain.to_hf(sd, config=config, params=params)
    assert sorted(sd) == sorted(set(hf) - set(dropped))
    for key in sd:
        assert torch.equal(sd[key], hf[key]), key


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


@pytest.mark.parametrize("model", ["llama", "qwen3", "qwen3_moe", "gpt_oss"])
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


# DeepSeek-V3 (TARGETS.md §3): the key map of §3.1 written out here, MTP layers re-indexed
# (§3.4), FP8 weights dequantized block by block (§3.3, §4.3).
MLA = {"q_proj": "wq", "q_a_proj": "wq_a", "q_a_layernorm": "q_norm", "q_b_proj": "wq_b",
       "kv_a_proj_with_mqa": "wkv_a", "kv_a_layernorm": "kv_norm", "kv_b_proj": "wkv_b",
       "o_proj": "wo"}
FFN = {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}


def deepseek_tt_key(hf_key, main_layers, names):
    """The torchtitan key of an HF key; ("expert", prefix, w, expert id) for a routed expert
    (stacked), None for what torchtitan does not map."""
    head = names == "head"
    top = {"model.embed_tokens.weight": "tok_embeddings.weight", "model.norm.weight": "norm.weight",
           "lm_head.weight": "lm_head.weight" if head else "output.weight"}
    if hf_key in top:
        return top[hf_key]
    parts = hf_key.split(".")
    assert parts[:2] == ["model", "layers"], hf_key
    layer, rest = int(parts[2]), parts[3:]
    at = f"layers.{layer}." if layer < main_layers else f"mtp_layers.{layer - main_layers}."
    name = ".".join(rest)
    if name in ("embed_tokens.weight", "shared_head.head.weight"):
        return None
    if name in ("enorm.weight", "hnorm.weight", "eh_proj.weight"):
        return at + name
    if name == "shared_head.norm.weight":
        return at + "mtp_norm.weight"
    if name == "input_layernorm.weight":
        return at + "attention_norm.weight"
    if name == "post_attention_layernorm.weight":
        return at + "ffn_norm.weight"
    if rest[0] == "self_attn":
        return at + f"attention.{MLA[rest[1]]}.weight"
    assert rest[0] == "mlp", hf_key
    if name == "mlp.gate.weight":
        return at + "moe.router.gate.weight"
    if name == "mlp.gate.e_score_correction_bias":
        return at + ("moe.expert_bias_E" if head else "moe.expert_bias")
    if rest[1] == "shared_experts":
        return at + f"moe.shared_experts.{FFN[rest[2]]}.weight"
    if rest[1] == "experts":
        w = FFN[rest[3]]
        stacked = {"w1": "w1_EFD", "w2": "w2_EDF", "w3": "w3_EFD"}[w] if head else w
        where = "moe.routed_experts.inner_experts." if head else "moe.experts."
        return ("expert", at + where + stacked, int(rest[2]))
    return at + f"feed_forward.{FFN[rest[1]]}.weight"


def deepseek_expected(hf, main_layers, names, value=lambda key, t: t):
    out, experts = {}, {}
    for key, t in hf.items():
        if key.endswith("_scale_inv"):
            continue
        tt = deepseek_tt_key(key, main_layers, names)
        if tt is None:
            continue
        if isinstance(tt, tuple):
            experts.setdefault(tt[1], {})[tt[2]] = value(key, t)
        else:
            out[tt] = value(key, t)
    for key, by_id in experts.items():
        assert sorted(by_id) == list(range(len(by_id)))
        out[key] = torch.stack([by_id[e] for e in range(len(by_id))])
    return out


def deepseek_config(tmp_path, quantized):
    with open(os.path.join(os.environ["CHAINCONV_SOURCE_DIR"], "chains", "layouts",
                           "deepseek_v3.config.json")) as f:
        config = json.load(f)
    if not quantized:
        del config["quantization_config"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return config, path


@pytest.mark.parametrize("names", ["head", "tt_2025_12"])
def test_deepseek_v3_unquantized_renames_stacks_and_reindexes_the_mtp_layer(tmp_path, names):
    config, path = deepseek_config(tmp_path, quantized=False)
    subprocess.run([CLI, "synth", "deepseek_v3", str(tmp_path / "hf"), "--config", str(path),
                    "--seed", "5"], check=True, capture_output=True)
    hf = ep.read_checkpoint(str(tmp_path / "hf"))
    n = config["num_hidden_layers"]
    assert f"model.layers.{n}.eh_proj.weight" in hf  # the MTP layer is there to convert
    want = deepseek_expected(hf, n, names)
    assert "mtp_layers.0.moe.router.gate.weight" in want and "layers.0.feed_forward.w1.weight" in want
    chain = chainconv.Chain.for_model_type("deepseek_v3", target="torchtitan")
    # The MTP layer's copies of the embedding and the head are not torchtitan's to give back.
    dropped = {f"model.layers.{n}.embed_tokens.weight", f"model.layers.{n}.shared_head.head.weight"}
    check_both_ways(chain, hf, want, config, {"names": names, "dequantize": "false"}, dropped)


def test_deepseek_v3_fp8_checkpoint_is_dequantized_on_the_way_to_torchtitan(tmp_path):
    from test_quant import dequant_fp8_reference, read

    config, _ = deepseek_config(tmp_path, quantized=True)
    block = config["quantization_config"]["weight_block_size"]

    def run(*args):
        r = subprocess.run([CLI, *args], capture_output=True, text=True)
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout
    run("synth", "deepseek_v3", str(tmp_path / "hf"), "--seed", "6")
    hf = read(str(tmp_path / "hf"))
    fp8 = [k for k, (dtype, _) in hf.items() if dtype == "F8_E4M3"]
    assert any(".mlp.experts.0." in k for k in fp8) and any("kv_b_proj" in k for k in fp8)

    def value(key, dtype_and_tensor):
        dtype, t = dtype_and_tensor
        if dtype != "F8_E4M3":
            return t
        # The product is formed in float32 and rounded once to BF16.
        scale = hf[key + "_scale_inv"][1]
        return dequant_fp8_reference(t, scale, block).float().to(torch.bfloat16)

    want = deepseek_expected(hf, config["num_hidden_layers"], "head", value)
    out = run("convert", str(tmp_path / "hf"), str(tmp_path / "tt"), "--to", "torchtitan",
              "--verify")
    assert "declared lossy" in out
    tt = read(str(tmp_path / "tt"))
    assert sorted(tt) == sorted(want)
    for key, t in want.items():
        dtype, got = tt[key]
        assert dtype != "F8_E4M3" and not key.endswith("_scale_inv"), key
        # Synthetic FP8 bytes include NaN codes: NaN where the reference has NaN.
        assert torch.equal(got.isnan(), t.isnan()), key
        assert torch.equal(got.float().nan_to_num(0), t.float().nan_to_num(0)), key

    # Back to HF: re-quantized, the companions written again, the FP8 layout as published
    # (less the MTP layer's own embedding and head).
    run("convert", str(tmp_path / "tt"), str(tmp_path / "back"), "--to", "hf", "--target",
        "torchtitan")
    back = read(str(tmp_path / "back"))
    n = config["num_hidden_layers"]
    dropped = {f"model.layers.{n}.embed_tokens.weight", f"model.layers.{n}.shared_head.head.weight"}
    assert sorted(back) == sorted(set(hf) - dropped)
    for key, (dtype, t) in back.items():
        assert dtype == hf[key][0] and t.shape == hf[key][1].shape, key
    demo = run("demo", "--model-type", "deepseek_v3", "--target", "torchtitan")
    assert "as the chain declares" in demo and "dequant_fp8_block: re-quantizing" in demo


# GPT-OSS (TARGETS.md §5.3): renames, and the experts in torchtitan's [E, out, in].
def gpt_oss_expected(hf, value_of_experts=None):
    out = {"tok_embeddings.weight": hf["model.embed_tokens.weight"],
           "norm.weight": hf["model.norm.weight"], "lm_head.weight": hf["lm_head.weight"]}
    layers = {int(k.split(".")[2]) for k in hf if k.startswith("model.layers.")}
    for layer in sorted(layers):
        p, t = f"model.layers.{layer}.", f"layers.{layer}."
        x = t + "moe.routed_experts.inner_experts."
        for proj, w in [("q_proj", "wq"), ("k_proj", "wk"), ("v_proj", "wv")]:
            for part in ("weight", "bias"):
                out[t + f"attention.qkv_linear.{w}.{part}"] = hf[p + f"self_attn.{proj}.{part}"]
        for part in ("weight", "bias"):
            out[t + f"attention.wo.{part}"] = hf[p + f"self_attn.o_proj.{part}"]
            out[t + f"moe.router.gate.{part}"] = hf[p + f"mlp.router.{part}"]
        out[t + "attention.sinks"] = hf[p + "self_attn.sinks"]
        out[t + "attention_norm.weight"] = hf[p + "input_layernorm.weight"]
        out[t + "ffn_norm.weight"] = hf[p + "post_attention_layernorm.weight"]
        out[x + "mlp1_bias_EG"] = hf[p + "mlp.experts.gate_up_proj_bias"]
        out[x + "mlp2_bias_ED"] = hf[p + "mlp.experts.down_proj_bias"]
        if value_of_experts is None:  # BF16 HF experts are [E, in, out]
            out[x + "mlp1_weight_EGD"] = hf[p + "mlp.experts.gate_up_proj"].transpose(1, 2)
            out[x + "mlp2_weight_EDF"] = hf[p + "mlp.experts.down_proj"].transpose(1, 2)
        else:
            out[x + "mlp1_weight_EGD"] = value_of_experts(p + "mlp.experts.gate_up_proj")
            out[x + "mlp2_weight_EDF"] = value_of_experts(p + "mlp.experts.down_proj")
    return out


def test_gpt_oss_experts_become_out_in_and_the_rest_is_renamed(tmp_path):
    subprocess.run([CLI, "synth", "gpt_oss", str(tmp_path / "hf"), "--seed", "7"], check=True,
                   capture_output=True)
    hf = ep.read_checkpoint(str(tmp_path / "hf"))
    want = gpt_oss_expected(hf)
    E, H, I2 = hf["model.layers.0.mlp.experts.gate_up_proj"].shape
    assert want["layers.0.moe.routed_experts.inner_experts.mlp1_weight_EGD"].shape == (E, I2, H)
    check_both_ways(chainconv.Chain.for_model_type("gpt_oss", target="torchtitan"), hf, want, None)


def test_gpt_oss_mxfp4_experts_decode_straight_to_torchtitan(tmp_path):
    from test_quant import mxfp4_reference, read

    config = os.path.join(os.environ["CHAINCONV_SOURCE_DIR"], "chains", "layouts",
                          "gpt_oss_mxfp4.config.json")
    subprocess.run([CLI, "synth", "gpt_oss", str(tmp_path / "hf"), "--config", config,
                    "--seed", "8"], check=True, capture_output=True)
    hf = read(str(tmp_path / "hf"))

    def decoded(name):  # [E, out, in]: the MXFP4 rows are outputs already
        return mxfp4_reference(hf[name + "_blocks"][1], hf[name + "_scales"][1]).float().to(
            torch.bfloat16)
    want = gpt_oss_expected({k: t for k, (_, t) in hf.items()}, decoded)
    r = subprocess.run([CLI, "convert", str(tmp_path / "hf"), str(tmp_path / "tt"), "--to",
                        "torchtitan", "--set", "dequantize=true", "--verify"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tt = read(str(tmp_path / "tt"))
    assert sorted(tt) == sorted(want)
    for key, t in want.items():
        got = tt[key][1]
        assert got.shape == t.shape, key
        if key.endswith(("mlp1_weight_EGD", "mlp2_weight_EDF")):
            # Synthetic scales include 255 (OCP MX: NaN; 2^128 overflows BF16 either way),
            # which no published checkpoint uses: those groups decode to inf or NaN.
            hf_name = "gate_up_proj" if "mlp1" in key else "down_proj"
            layer = key.split(".")[1]
            scales = hf[f"model.layers.{layer}.mlp.experts.{hf_name}_scales"][1]
            top = (scales == 255).repeat_interleave(32, dim=-1)
            assert bool((got[top].isinf() | got[top].isnan()).all()), key
            got, t = got[~top], t[~top]
        assert torch.equal(got, t), key

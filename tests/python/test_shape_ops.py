"""Value-level golden tests of the shape ops. The expected tensors come from plain torch code
written from ../shared/TARGETS.md §1.2 (the RoPE q/k permutation between the HF and the
Meta / torchtitan layouts, index form and HF's own Meta -> HF permute), never from the chain:
several head counts, grouped-query attention (k with n_kv < n_h heads), head dims, f32 and
bf16. Then the same kind of chain on a safetensors checkpoint through the CLI (the file
executor), whose bytes must be what torch makes."""
import json
import os
import subprocess
import sys

import pytest
import torch

import chainconv

SOURCE_DIR = os.environ["CHAINCONV_SOURCE_DIR"]
CLI = os.environ["CHAINCONV_CLI"]
sys.path.insert(0, os.path.join(SOURCE_DIR, "examples"))
import distributed_export as ep  # noqa: E402  (its safetensors reader and writer)
from rope_reference import hf_to_meta  # noqa: E402

# (n_h, n_kv, head_dim, D)
SHAPES = [(4, 4, 8, 6), (8, 2, 16, 5), (6, 3, 4, 7), (2, 1, 10, 3), (32, 8, 2, 1)]
DTYPES = [torch.float32, torch.bfloat16]


def meta_to_hf(w, n):
    """HF's convert_llama_weights_to_hf permute (TARGETS.md §1.2, to_hf)."""
    dim1, dim2 = w.shape
    return w.view(n, dim1 // n // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def llama_chain(n_h, n_kv, hd):
    return chainconv.Chain.from_string(f"""version: 1
model_types: [test]
description: q/k to the Meta layout
ops:
  - rename: {{from: "model.layers.{{layer}}.self_attn.q_proj.weight", to: "layers.{{layer}}.attention.wq.weight"}}
  - rename: {{from: "model.layers.{{layer}}.self_attn.k_proj.weight", to: "layers.{{layer}}.attention.wk.weight"}}
  - rope_permute: {{key: "layers.{{layer}}.attention.wq.weight", heads: {n_h}, head_dim: {hd}}}
  - rope_permute: {{key: "layers.{{layer}}.attention.wk.weight", heads: {n_kv}}}
""", "rope.yaml")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_h,n_kv,hd,dim", SHAPES)
def test_rope_permute_gives_the_meta_layout_and_back(n_h, n_kv, hd, dim, dtype):
    torch.manual_seed(n_h * 100 + hd)
    q = torch.randn(n_h * hd, dim).to(dtype)
    k = torch.randn(n_kv * hd, dim).to(dtype)
    sd = {"model.layers.0.self_attn.q_proj.weight": q.clone(),
          "model.layers.0.self_attn.k_proj.weight": k.clone()}
    chain = llama_chain(n_h, n_kv, hd)
    chain.to_prime(sd)
    assert sorted(sd) == ["layers.0.attention.wk.weight", "layers.0.attention.wq.weight"]
    wq, wk = sd["layers.0.attention.wq.weight"], sd["layers.0.attention.wk.weight"]
    assert wq.dtype == dtype and wq.is_contiguous()
    assert torch.equal(wq, hf_to_meta(q, n_h))
    assert torch.equal(wk, hf_to_meta(k, n_kv))
    # The per-row example of TARGETS.md for hd = 8: Meta rows 0..7 take HF rows 0,4,1,5,2,6,3,7.
    if hd == 8:
        assert torch.equal(wq[:8], q[[0, 4, 1, 5, 2, 6, 3, 7]])

    chain.to_hf(sd)
    assert torch.equal(sd["model.layers.0.self_attn.q_proj.weight"], q)
    assert torch.equal(sd["model.layers.0.self_attn.k_proj.weight"], k)

    # Backward on Meta tensors of its own is HF's permute.
    mq, mk = torch.randn(n_h * hd, dim).to(dtype), torch.randn(n_kv * hd, dim).to(dtype)
    prime = {"layers.1.attention.wq.weight": mq.clone(), "layers.1.attention.wk.weight": mk.clone()}
    chain.to_hf(prime)
    assert torch.equal(prime["model.layers.1.self_attn.q_proj.weight"], meta_to_hf(mq, n_h))
    assert torch.equal(prime["model.layers.1.self_attn.k_proj.weight"], meta_to_hf(mk, n_kv))


def test_a_chain_without_the_permutation_is_not_the_meta_layout():
    # The golden values are sharp: a names-only chain (no rope_permute) does not match them.
    q = torch.randn(4 * 8, 6)
    assert not torch.equal(q, hf_to_meta(q, 4))


def test_shape_ops_in_python_are_views_and_concat_splits_back():
    chain = chainconv.Chain.from_string("""version: 1
model_types: [test]
description: shape ops
ops:
  - concat: {from: ["l.{layer}.gate", "l.{layer}.up"], to: "l.{layer}.gate_up", dim: 1}
  - transpose: {key: "l.{layer}.gate_up", dims: [1, 2]}
  - reshape: {key: "l.{layer}.norm", from: [-1], to: [3, -1]}
""", "shape.yaml")
    gate, up = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
    norm = torch.arange(15.0)
    sd = {"l.0.gate": gate.clone(), "l.0.up": up.clone(), "l.0.norm": norm}
    chain.to_prime(sd)
    assert torch.equal(sd["l.0.gate_up"], torch.cat([gate, up], 1).transpose(1, 2))
    assert torch.equal(sd["l.0.norm"], norm.view(3, 5))
    assert sd["l.0.norm"].data_ptr() == norm.data_ptr()
    fused = sd["l.0.gate_up"]
    chain.to_hf(sd)
    assert torch.equal(sd["l.0.gate"], gate) and torch.equal(sd["l.0.up"], up)
    assert ep.storage_of(sd["l.0.gate"]) == ep.storage_of(fused)


FILE_CHAIN = """version: 1
model_types: [test]
description: shape ops on a checkpoint
ops:
  - rope_permute: {key: "model.layers.{layer}.self_attn.q_proj.weight", heads: 4, head_dim: 6}
  - rope_permute: {key: "model.layers.{layer}.self_attn.k_proj.weight", heads: 2, head_dim: 6}
  - permute: {key: "model.layers.{layer}.mlp.experts.down_proj", dims: [2, 0, 1]}
  - transpose: {key: "model.layers.{layer}.mlp.experts.gate_up_proj", dims: [1, 2]}
  - reshape: {key: "model.layers.{layer}.mlp.experts.gate_up_proj", from: [-1, 10, 7], to: [-1, 2, 5, 7]}
  - concat: {from: ["model.layers.{layer}.self_attn.v_proj.weight", "model.layers.{layer}.self_attn.o_proj.weight"], to: "model.layers.{layer}.self_attn.vo", dim: 0, sizes: [12, 7]}
"""


def run_cli(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_file_executor_writes_the_bytes_torch_makes(tmp_path, dtype):
    torch.manual_seed(7)
    x = "model.layers.0."
    hf = {
        x + "self_attn.q_proj.weight": torch.randn(24, 7).to(dtype),
        x + "self_attn.k_proj.weight": torch.randn(12, 7).to(dtype),
        x + "self_attn.v_proj.weight": torch.randn(12, 7).to(dtype),
        x + "self_attn.o_proj.weight": torch.randn(7, 7).to(dtype),
        # Big enough that the permuted tensor, scattered element by element, is gathered by
        # ATen; the small transposed one is copied as byte runs.
        x + "mlp.experts.down_proj": torch.randn(3, 41, 37).to(dtype),
        x + "mlp.experts.gate_up_proj": torch.randn(3, 7, 10).to(dtype),
        "model.norm.weight": torch.randn(7).to(dtype),
    }
    (tmp_path / "hf").mkdir()
    ep.write_safetensors(str(tmp_path / "hf" / "model.safetensors"), hf)
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "test"}))
    chain_file = tmp_path / "shape.yaml"
    chain_file.write_text(FILE_CHAIN)

    run_cli("convert", str(tmp_path / "hf"), str(tmp_path / "prime"), "--to", "prime",
            "--chain", str(chain_file), "--quiet", "--verify")
    prime = ep.read_checkpoint(str(tmp_path / "prime"))
    expected = {
        x + "self_attn.q_proj.weight": hf_to_meta(hf[x + "self_attn.q_proj.weight"], 4),
        x + "self_attn.k_proj.weight": hf_to_meta(hf[x + "self_attn.k_proj.weight"], 2),
        x + "mlp.experts.down_proj": hf[x + "mlp.experts.down_proj"].permute(2, 0, 1),
        x + "mlp.experts.gate_up_proj":
            hf[x + "mlp.experts.gate_up_proj"].transpose(1, 2).reshape(3, 2, 5, 7),
        x + "self_attn.vo": torch.cat([hf[x + "self_attn.v_proj.weight"],
                                       hf[x + "self_attn.o_proj.weight"]]),
        "model.norm.weight": hf["model.norm.weight"],
    }
    assert sorted(prime) == sorted(expected)
    for key, want in expected.items():
        assert prime[key].dtype == dtype and prime[key].shape == want.shape, key
        assert torch.equal(prime[key], want), key

    run_cli("convert", str(tmp_path / "prime"), str(tmp_path / "back"), "--to", "hf",
            "--chain", str(chain_file), "--quiet")
    back = ep.read_checkpoint(str(tmp_path / "back"))
    assert sorted(back) == sorted(hf)
    for key, want in hf.items():
        assert torch.equal(back[key], want), key

    plan = run_cli("plan", str(tmp_path / "hf"), "--to", "prime", "--chain", str(chain_file))
    assert "mlp.experts.down_proj" in plan and "reshaped" in plan

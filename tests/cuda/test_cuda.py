"""The engine on CUDA tensors (tests/cuda/run.sh; skipped without a GPU). Each model's tiny
synthetic checkpoint (chainconv synth) is moved to the GPU and converted both ways: every
output stays on the device, a moved tensor is the input tensor itself and an unstacked row a
view of its stack, no step synchronises with the host, and the roundtrip gives back what
the CPU conversion gives. The dequantizing ops on CUDA equal their CPU results."""
import json
import os
import subprocess
import sys

import pytest
import torch

import chainconv

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CLI = os.environ.get("CHAINCONV_CLI", "")
SOURCE_DIR = os.environ.get("CHAINCONV_SOURCE_DIR", ".")
sys.path.insert(0, os.path.join(SOURCE_DIR, "examples"))
import distributed_export as ep  # noqa: E402  (its safetensors reader)

MODELS = ["qwen3_moe", "qwen3_5_moe", "qwen2_moe", "glm4_moe", "glm_moe_dsa", "deepseek_v3",
          "minimax_m2", "mixtral", "olmoe", "laguna", "afmoe", "nemotron_h", "gpt_oss"]


def same(a, b):
    """Equal values, NaN included (random MXFP4 scales decode to inf and NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def synth(tmp_path, model, *args):
    out = tmp_path / model
    subprocess.run([CLI, "synth", model, str(out), "--seed", "1", *args], check=True,
                   capture_output=True)
    with open(out / "config.json") as f:
        config = json.load(f)
    return ep.read_checkpoint(str(out)), config


@pytest.mark.parametrize("model", MODELS)
def test_every_model_converts_on_the_gpu_as_on_the_cpu(tmp_path, model):
    hf, config = synth(tmp_path, model)
    chain = chainconv.Chain.for_model_type(config["model_type"])
    cpu = dict(hf)
    chain.to_prime(cpu, config=config)
    gpu = {k: v.cuda() for k, v in hf.items()}
    inputs = dict(gpu)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        chain.to_prime(gpu, config=config)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sorted(gpu) == sorted(cpu)
    for key, t in gpu.items():
        assert t.is_cuda, key
        assert torch.equal(t.cpu(), cpu[key]), key
        if key in inputs:  # passed through or renamed: the same tensor
            assert t.data_ptr() == inputs[key].data_ptr(), key

    torch.cuda.set_sync_debug_mode("error")
    try:
        chain.to_hf(gpu, config=config)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    chain.to_hf(cpu, config=config)
    assert sorted(gpu) == sorted(cpu)
    for key, t in gpu.items():
        assert t.is_cuda and torch.equal(t.cpu(), cpu[key]), key


def test_unstacked_rows_are_views_of_the_stack_on_the_device(tmp_path):
    hf, config = synth(tmp_path, "qwen3_moe")
    chain = chainconv.Chain.for_model_type("qwen3_moe")
    prime = {k: v.cuda() for k, v in hf.items()}
    chain.to_prime(prime)
    stacked = prime["model.layers.1.mlp.experts.w1"]
    chain.to_hf(prime)
    row = prime["model.layers.1.mlp.experts.2.gate_proj.weight"]
    assert row.is_cuda
    assert row.storage().data_ptr() == stacked.storage().data_ptr()
    assert torch.equal(row, stacked[2])


def test_mxfp4_dequantization_on_cuda_equals_the_cpu(tmp_path):
    hf, config = synth(tmp_path, "gpt_oss", "--config",
                       os.path.join(SOURCE_DIR, "chains/layouts/gpt_oss_mxfp4.config.json"))
    chain = chainconv.Chain.for_model_type("gpt_oss")
    params = {"dequantize": True}
    cpu, gpu = dict(hf), {k: v.cuda() for k, v in hf.items()}
    chain.to_prime(cpu, params=params, config=config)
    chain.to_prime(gpu, params=params, config=config)
    assert sorted(gpu) == sorted(cpu)
    for key in cpu:
        assert gpu[key].is_cuda and same(gpu[key].cpu(), cpu[key]), key
    chain.to_hf(cpu, params=params, config=config)
    chain.to_hf(gpu, params=params, config=config)
    for key in cpu:
        assert same(gpu[key].cpu(), cpu[key]), key

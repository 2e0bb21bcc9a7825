"""examples/distributed_export.py: expert-parallel export under torch.distributed (gloo, CPU
processes). The union of the ranks' shards must be, tensor for tensor, the HF checkpoint
that `chainconv convert --to hf` writes from the whole prime checkpoint, and chainconv must
accept the sharded result (inspect, convert --verify)."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch

import chainconv

SOURCE_DIR = os.environ["CHAINCONV_SOURCE_DIR"]
CLI = os.environ["CHAINCONV_CLI"]
sys.path.insert(0, os.path.join(SOURCE_DIR, "examples"))
import distributed_export as ep  # noqa: E402  (spawned ranks find it through sys.path too)

MODELS = ["qwen3_moe", "glm4_moe"]


def cli(*args):
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Per model: the synthetic HF checkpoint, its prime conversion, and the reference HF
    checkpoint converted back from the whole prime one."""
    root = tmp_path_factory.mktemp("ep")
    out = {}
    for model in MODELS:
        d = root / model
        cli("synth", model, str(d / "hf"), "--seed", "5")
        cli("convert", str(d / "hf"), str(d / "prime"), "--to", "prime", "--quiet")
        cli("convert", str(d / "prime"), str(d / "reference"), "--to", "hf", "--quiet")
        out[model] = d
    return out


def expert_of(key):
    m = re.search(r"\.experts\.(\d+)\.", key)
    return int(m.group(1)) if m else None


def test_safetensors_helpers_read_what_chainconv_writes(checkpoints):
    d = checkpoints["qwen3_moe"]
    tensors = ep.read_checkpoint(str(d / "hf"))
    ep.write_safetensors(str(d / "copy.safetensors"), tensors)
    again = ep.read_safetensors(str(d / "copy.safetensors"))
    assert sorted(again) == sorted(tensors)
    for key, t in tensors.items():
        assert again[key].dtype == t.dtype and torch.equal(again[key], t), key


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("world_size", [2, 4])
def test_each_rank_exports_its_experts_as_views_numbered_from_its_offset(checkpoints, model,
                                                                         world_size):
    # One process suffices to check what each rank computes; the spawned run below checks
    # the same under torch.distributed.
    d = checkpoints[model]
    chain = chainconv.Chain.for_model_type(model)
    prime = ep.read_checkpoint(str(d / "prime"))
    reference = ep.read_checkpoint(str(d / "reference"))
    stacked = ep.stacked_expert_keys(chain, prime)
    num_experts = {prime[k].shape[0] for k in stacked}
    assert len(num_experts) == 1
    local = num_experts.pop() // world_size
    assert local >= 1
    union = {}
    for rank in range(world_size):
        mine = ep.local_shard(prime, stacked, rank, local)
        slices = {ep.storage_of(mine[k]) for k in stacked}
        experts, replicated = ep.export_rank(chain, mine, stacked, rank, local)
        # Exactly this rank's experts, by their global numbers...
        assert sorted(experts) == sorted(k for k in reference
                                         if expert_of(k) is not None
                                         and rank * local <= expert_of(k) < (rank + 1) * local)
        # ...each a view of the rank's own slice: no copy, no gather.
        assert all(ep.storage_of(t) in slices for t in experts.values())
        assert all(expert_of(k) is None for k in replicated)
        union.update(experts)
        if rank == 0:
            union.update(replicated)
    assert sorted(union) == sorted(reference)
    for key, t in reference.items():
        assert union[key].dtype == t.dtype and union[key].shape == t.shape, key
        assert torch.equal(union[key], t), key


@pytest.mark.parametrize("world_size", [2, 4])
def test_torch_distributed_export_writes_the_reference_checkpoint_in_shards(checkpoints,
                                                                           tmp_path, world_size):
    for model in MODELS:
        d = checkpoints[model]
        out = tmp_path / model
        ep.export(str(d / "prime"), str(out), world_size)

        shards = sorted(p.name for p in out.glob("*.safetensors"))
        assert shards == [f"model-{r:05d}-of-{world_size:05d}.safetensors"
                          for r in range(1, world_size + 1)]
        index = json.loads((out / ep.INDEX).read_text())
        assert sorted(set(index["weight_map"].values())) == shards

        exported = ep.read_checkpoint(str(out))
        reference = ep.read_checkpoint(str(d / "reference"))
        assert sorted(exported) == sorted(reference)
        for key, t in reference.items():
            assert exported[key].dtype == t.dtype and torch.equal(exported[key], t), (model, key)
        # Rank r's shard (model-0000{r+1}-...) holds rank r's experts.
        experts = {expert_of(k) for k in reference} - {None}
        local = len(experts) // world_size
        for key, shard in index["weight_map"].items():
            if expert_of(key) is not None:
                assert int(shard[6:11]) - 1 == expert_of(key) // local, (key, shard)

        inspect = cli("inspect", str(out))
        assert f"{world_size} files, {len(reference)} tensors" in inspect
        assert f"model_type: {model}" in inspect
        verify = cli("convert", str(out), str(tmp_path / (model + "-prime")), "--to", "prime",
                     "--verify", "--quiet")
        assert "verify: converted back and compared" in verify

"""Expert-parallel export of a prime checkpoint to HF names, inside torch.distributed.

Each rank of an expert-parallel group holds, as a trainer does, the replicated tensors and
its own slice of every stacked expert tensor: rows [rank * local, (rank + 1) * local) of
experts.w1 [E, I, H] and the like. It converts one layer at a time with chainconv,
expert_offset = rank * local, so the HF experts it gets back are numbered globally and are
views of its slice: nothing is gathered and no expert is copied. Each rank then writes its
own HF shard (its experts; rank 0 also the replicated tensors) and rank 0 writes
model.safetensors.index.json, giving a checkpoint that `chainconv inspect` and
`chainconv convert --verify` accept, equal to what `chainconv convert --to hf` writes from
the whole prime checkpoint.

    # a tiny prime checkpoint to try it on
    chainconv synth qwen3_moe /tmp/hf && chainconv convert /tmp/hf /tmp/prime --to prime
    PYTHONPATH=build/python python3 examples/distributed_export.py /tmp/prime /tmp/hf-ep --world-size 4

Runs on CPU with the gloo backend (one process per rank, torch.multiprocessing.spawn). It
needs Debian's python3 with python3-torch (the interpreter the chainconv module is built
for). Safetensors files are read and written here by a few lines of Python, so that the
`safetensors` package is not needed.
"""
import argparse
import json
import os
import re
import shutil
import struct
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import chainconv

INDEX = "model.safetensors.index.json"

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
           "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
           "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
# Read only: FP8 (no torch dtype in every version) arrives as its bytes.
_DTYPES["F8_E4M3"] = torch.uint8


def read_safetensors(path):
    """name -> tensor, each in its own storage (as a trainer's parameters are)."""
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        raw = bytearray(data[body + start:body + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    """The safetensors format: an 8-byte header size, the JSON header, the data packed in
    header order with no gaps (chainconv refuses bytes no tensor covers)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()  # a view of an expert slice is copied here, once, to disk
        blob = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # aligned data, as the reference writer pads
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_checkpoint(directory):
    """A checkpoint directory's tensors: model.safetensors, or the index and its shards."""
    index = os.path.join(directory, INDEX)
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(directory, name)))
    return tensors


def layer_groups(keys):
    """Keys grouped by layer ("model.layers.3."), the keys outside any layer under ""."""
    groups = {}
    for key in keys:
        m = re.match(r"(.*?\blayers\.\d+\.)", key)
        groups.setdefault(m.group(1) if m else "", []).append(key)
    return groups


def stacked_expert_keys(chain, prime):
    """The prime keys whose rows are experts: those to_hf unstacks (the backward of a stack
    op). Read from the plan, which works from shapes alone, so no model's names are assumed."""
    keys = set()
    for entry in chain.plan(prime, "to_hf"):
        if any(op == "stack" for op, _ in entry["steps"]):
            keys.update(entry["sources"])
    return keys


def storage_of(t):
    return (t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()).data_ptr()


def export_rank(chain, local_prime, stacked, rank, local):
    """This rank's HF tensors: every layer converted on its own, experts numbered from
    rank * local. Returns (its experts, the replicated tensors): the former are views of the
    local slices, the latter the replicated tensors under their HF names."""
    slices = {storage_of(local_prime[k]) for k in stacked}
    experts, replicated = {}, {}
    for _, keys in sorted(layer_groups(local_prime).items()):
        layer = {k: local_prime[k] for k in keys}
        chain.to_hf(layer, expert_offset=rank * local, strict=True)
        for key, tensor in layer.items():
            (experts if storage_of(tensor) in slices else replicated)[key] = tensor
    return experts, replicated


def local_shard(prime, stacked, rank, local):
    """What rank `rank` holds: the replicated tensors and its own copy of its rows of the
    stacked experts (an expert-parallel trainer never has the others)."""
    return {k: (t[rank * local:(rank + 1) * local].clone() if k in stacked else t)
            for k, t in prime.items()}


def worker(rank, world_size, prime_dir, out_dir, rendezvous):
    dist.init_process_group("gloo", init_method="file://" + rendezvous, rank=rank,
                            world_size=world_size)
    try:
        with open(os.path.join(prime_dir, "config.json")) as f:
            model_type = json.load(f)["model_type"]
        chain = chainconv.Chain.for_model_type(model_type)
        # Stands in for the trainer's parameters: each rank keeps only its slice of the experts.
        prime = read_checkpoint(prime_dir)
        stacked = stacked_expert_keys(chain, prime)
        num_experts = {prime[k].shape[0] for k in stacked}
        assert len(num_experts) == 1 and num_experts.pop() % world_size == 0, num_experts
        local = prime[next(iter(stacked))].shape[0] // world_size
        mine = local_shard(prime, stacked, rank, local)
        del prime

        experts, replicated = export_rank(chain, mine, stacked, rank, local)
        tensors = dict(experts, **replicated) if rank == 0 else experts
        shard = f"model-{rank + 1:05d}-of-{world_size:05d}.safetensors"
        write_safetensors(os.path.join(out_dir, shard), tensors)

        # Rank 0 writes the index once every rank has said what its shard holds.
        sizes = {k: t.numel() * t.element_size() for k, t in tensors.items()}
        gathered = [None] * world_size
        dist.all_gather_object(gathered, (shard, sizes))
        if rank == 0:
            weight_map, total = {}, 0
            for name, shard_sizes in gathered:
                for key, size in shard_sizes.items():
                    assert key not in weight_map, f"{key} written by two ranks"
                    weight_map[key] = name
                    total += size
            with open(os.path.join(out_dir, INDEX), "w") as f:
                json.dump({"metadata": {"total_size": total},
                           "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
            for name in os.listdir(prime_dir):  # config.json, tokenizer, ...
                if not name.endswith(".safetensors") and name != INDEX:
                    src = os.path.join(prime_dir, name)
                    if os.path.isfile(src):
                        shutil.copy2(src, os.path.join(out_dir, name))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def export(prime_dir, out_dir, world_size):
    """Runs world_size ranks, each exporting its experts into out_dir (created)."""
    os.makedirs(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(worker, args=(world_size, prime_dir, out_dir, os.path.join(tmp, "rendezvous")),
                 nprocs=world_size, join=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prime_dir", help="a prime checkpoint directory (chainconv convert --to prime)")
    parser.add_argument("out_dir", help="the HF checkpoint directory to create")
    parser.add_argument("--world-size", type=int, default=2, help="expert-parallel ranks")
    args = parser.parse_args()
    export(args.prime_dir, args.out_dir, args.world_size)
    print(f"wrote {args.out_dir}: {args.world_size} shards and {INDEX}")


if __name__ == "__main__":
    main()

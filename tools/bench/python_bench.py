#!/usr/bin/env python3
"""The trainer path from Python: chainconv's to_prime / to_hf on the Qwen3-30B-A3B key set,
against a straightforward pure-Python implementation of the same conversion timed in the
same run.

  PYTHONPATH=build/python /usr/bin/python3 tools/bench/python_bench.py [--reps 7] [--smoke]

Rows: the whole dict in one call, and one call per layer group (48 MoE layers plus the keys
outside any layer), both directions; Replay.run on a list of tensors; and the baseline, a
pure-Python conversion (torch.stack per layer and projection, unbind for the inverse, dict
renames). Tensors are meta tensors (shapes and dtypes, no data), so what is measured is the
interpreter and the dict work, not memory traffic. Medians of --reps runs, each on a fresh
copy of the dict (copies made outside the timed region). --smoke runs a tiny key set once
(CI: the benchmark cannot rot); no targets are judged then.

--no-gc turns Python's cyclic garbage collector off while timing (both sides alike). Every
row makes up to 18,432 torch.Tensor objects, which the collector tracks; with it on, its
collections (a full one now and then, over every object of the process) land in whichever
call happens to be timed. The flag shows what the conversions cost without them.
"""
import argparse
import gc
import os
import statistics
import sys
import time

import torch

import chainconv

SOURCE_DIR = os.environ.get(
    "CHAINCONV_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def qwen3_moe_hf(layers, experts, hidden, inter, vocab, heads, kv_heads, head_dim):
    """The Qwen3-MoE HF key set (docs/MODELS.md): per layer attention, norms, router and
    per-expert gate/up/down projections; embeddings, final norm and lm_head outside."""
    bf16 = torch.bfloat16

    def meta(*shape):
        return torch.empty(shape, dtype=bf16, device="meta")

    sd = {"model.embed_tokens.weight": meta(vocab, hidden), "model.norm.weight": meta(hidden),
          "lm_head.weight": meta(vocab, hidden)}
    for l in range(layers):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = meta(hidden)
        sd[p + "post_attention_layernorm.weight"] = meta(hidden)
        sd[p + "self_attn.q_proj.weight"] = meta(heads * head_dim, hidden)
        sd[p + "self_attn.k_proj.weight"] = meta(kv_heads * head_dim, hidden)
        sd[p + "self_attn.v_proj.weight"] = meta(kv_heads * head_dim, hidden)
        sd[p + "self_attn.o_proj.weight"] = meta(hidden, heads * head_dim)
        sd[p + "self_attn.q_norm.weight"] = meta(head_dim)
        sd[p + "self_attn.k_norm.weight"] = meta(head_dim)
        sd[p + "mlp.gate.weight"] = meta(experts, hidden)
        for e in range(experts):
            x = f"{p}mlp.experts.{e}."
            sd[x + "gate_proj.weight"] = meta(inter, hidden)
            sd[x + "up_proj.weight"] = meta(inter, hidden)
            sd[x + "down_proj.weight"] = meta(hidden, inter)
    return sd


# The baseline: the same conversion written the plain way, as a trainer's own code would.
PROJECTIONS = (("gate_proj", "w1"), ("down_proj", "w2"), ("up_proj", "w3"))


def python_to_prime(sd):
    layers = sorted({int(k.split(".")[2]) for k in sd if k.startswith("model.layers.") and ".mlp.experts." in k})
    for l in layers:
        p = f"model.layers.{l}.mlp."
        sd[p + "router.gate.weight"] = sd.pop(p + "gate.weight")
        experts = 0
        while f"{p}experts.{experts}.gate_proj.weight" in sd:
            experts += 1
        for hf, prime in PROJECTIONS:
            rows = [sd.pop(f"{p}experts.{e}.{hf}.weight") for e in range(experts)]
            sd[f"{p}experts.{prime}"] = torch.stack(rows)
    return sd


def python_to_hf(sd):
    layers = sorted({int(k.split(".")[2]) for k in sd if k.startswith("model.layers.") and k.endswith(".mlp.experts.w1")})
    for l in layers:
        p = f"model.layers.{l}.mlp."
        sd[p + "gate.weight"] = sd.pop(p + "router.gate.weight")
        for hf, prime in PROJECTIONS:
            for e, row in enumerate(sd.pop(f"{p}experts.{prime}").unbind(0)):
                sd[f"{p}experts.{e}.{hf}.weight"] = row
    return sd


def layer_groups(sd):
    groups = {}
    for key, value in sd.items():
        parts = key.split(".")
        group = ".".join(parts[:3]) + "." if len(parts) > 3 and parts[1] == "layers" else ""
        groups.setdefault(group, {})[key] = value
    return list(groups.values())


def median_ms(reps, make_inputs, run):
    """Median milliseconds of run(inputs) over `reps` runs (one warm-up), inputs fresh each time."""
    times = []
    for r in range(reps + 1):
        inputs = make_inputs()
        start = time.perf_counter()
        run(inputs)
        elapsed = (time.perf_counter() - start) * 1000
        if r:
            times.append(elapsed)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny key set, one run (CI)")
    parser.add_argument("--no-gc", action="store_true",
                        help="Python's garbage collector off while timing (both sides)")
    args = parser.parse_args()
    if args.no_gc:
        gc.disable()
    reps = 1 if args.smoke else args.reps
    if args.smoke:
        hf = qwen3_moe_hf(2, 4, 8, 4, 16, 2, 1, 4)
    else:  # Qwen3-30B-A3B: 48 layers x 128 experts, 18,867 keys
        hf = qwen3_moe_hf(48, 128, 2048, 768, 151936, 32, 4, 128)
    chain = chainconv.Chain.load(os.path.join(SOURCE_DIR, "chains", "qwen3_moe.yaml"))
    prime = dict(hf)
    chain.to_prime(prime)
    # The baseline converts the same key set to the same prime key set.
    check = python_to_prime(dict(hf))
    assert sorted(check) == sorted(prime), "the baseline and the chain disagree"
    hf_groups, prime_groups = layer_groups(hf), layer_groups(prime)

    def whole(convert, sd):
        return lambda: dict(sd), lambda d: convert(d)

    def per_layer(convert, groups):
        return lambda: [dict(g) for g in groups], lambda ds: [convert(d) for d in ds]

    rows = []

    def row(name, make, run, baseline=None):
        ms = median_ms(reps, make, run)
        rows.append((name, ms, baseline))
        return ms

    base = {
        "to_prime whole": row("python baseline to_prime, whole dict", *whole(python_to_prime, hf)),
        "to_hf whole": row("python baseline to_hf, whole dict", *whole(python_to_hf, prime)),
        "to_prime layers": row("python baseline to_prime, per layer", *per_layer(python_to_prime, hf_groups)),
        "to_hf layers": row("python baseline to_hf, per layer", *per_layer(python_to_hf, prime_groups)),
    }
    # The first call on a key set compiles it; later calls on the same key set look it up.
    first = dict(hf)
    start = time.perf_counter()
    chainconv.Chain.load(os.path.join(SOURCE_DIR, "chains", "qwen3_moe.yaml")).to_prime(first)
    rows.append(("chainconv to_prime, whole dict, first call (load + compile)",
                 (time.perf_counter() - start) * 1000, None))
    row("chainconv to_prime, whole dict", *whole(chain.to_prime, hf), base["to_prime whole"])
    row("chainconv to_hf, whole dict", *whole(chain.to_hf, prime), base["to_hf whole"])
    row("chainconv to_prime, per layer", *per_layer(chain.to_prime, hf_groups), base["to_prime layers"])
    row("chainconv to_hf, per layer", *per_layer(chain.to_hf, prime_groups), base["to_hf layers"])
    replay = chain.compile(hf, "to_prime")
    inputs = [hf[k] for k in replay.input_keys]
    row("chainconv Replay.run(list), to_prime", lambda: list(inputs), replay.run)
    replay = chain.compile(prime, "to_hf")
    inputs_hf = [prime[k] for k in replay.input_keys]
    row("chainconv Replay.run(list), to_hf", lambda: list(inputs_hf), replay.run)

    # to_hf again with the HF dict's 18,432 per-expert tensors released: with them alive in
    # the process, torch's own unbind (the baseline's) runs about 3x slower on this machine,
    # chainconv's views hardly at all; these rows give the baseline its best case.
    hf_keys = len(hf)
    del hf, hf_groups, check, first
    gc.collect()
    alone = " (no HF tensors alive)"
    base_whole = row("python baseline to_hf, whole dict" + alone, *whole(python_to_hf, prime))
    row("chainconv to_hf, whole dict" + alone, *whole(chain.to_hf, prime), base_whole)
    base_layers = row("python baseline to_hf, per layer" + alone,
                      *per_layer(python_to_hf, prime_groups))
    row("chainconv to_hf, per layer" + alone, *per_layer(chain.to_hf, prime_groups), base_layers)

    print(f"{hf_keys} HF keys, {len(prime)} prime keys, {len(prime_groups)} layer groups; "
          f"median of {reps} run(s), milliseconds"
          + ("; garbage collector off" if args.no_gc else ""))
    print(f"{'':76} {'ms':>9} {'faster than baseline':>21}")
    for name, ms, baseline in rows:
        speedup = f"{baseline / ms:.1f}x" if baseline else ""
        print(f"{name:76} {ms:9.2f} {speedup:>21}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

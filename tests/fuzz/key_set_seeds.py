#!/usr/bin/env python3
"""Writes the key_set fuzzer's seeds (tests/fuzz/corpus/key_set/): real key sets of a few
shipped chains, spelled in the fuzzer's input format (tests/fuzz/key_set_fuzzer.cc) with every
key a literal, so that the seeds keep their keys when the chains' words change.

  /usr/bin/python3 tests/fuzz/key_set_seeds.py
"""
import glob
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DTYPES = ["BF16", "F32", "F16", "F8_E4M3", "I64", "U8", "F8_E8M0"]
LITERAL = 0x7F
LOWER, CHECK, TO_HF = 0, 1, 2  # byte 1: lower to prime, check on layout, lower to HF


def chain_index(name):
    """The fuzzer's index of chains/<name>.yaml: prime chains in path order, then torchtitan."""
    by_target = {"prime": [], "torchtitan": []}
    for path in sorted(glob.glob(os.path.join(ROOT, "chains", "*.yaml"))):
        with open(path) as f:
            targets = [l.split(":", 1)[1].strip() for l in f if l.startswith("target:")]
        by_target[targets[0] if targets else "prime"].append(os.path.basename(path))
    return (by_target["prime"] + by_target["torchtitan"]).index(name + ".yaml")


def spell(chain, mode, specs):
    out = bytearray([chain_index(chain), mode])
    for key, shape, dtype in specs:
        segments = [key[i:i + 63] for i in range(0, len(key), 63)]
        out.append(len(segments) - 1)
        for segment in segments:
            out += bytes([LITERAL, len(segment)]) + segment.encode()
        out.append(len(shape))
        out += bytes(shape)
        out.append(DTYPES.index(dtype))
    return bytes(out)


def qwen3_moe_hf(experts, layers=(0,)):
    specs = [("model.embed_tokens.weight", [8, 4], "BF16")] if len(layers) > 1 else []
    for layer in layers:
        p = f"model.layers.{layer}."
        specs += [(p + "input_layernorm.weight", [4], "BF16"), (p + "mlp.gate.weight", [experts, 4], "BF16")]
        for e in range(experts):
            for proj, shape in (("gate_proj", [2, 4]), ("up_proj", [2, 4]), ("down_proj", [4, 2])):
                specs.append((f"{p}mlp.experts.{e}.{proj}.weight", shape, "BF16"))
    return specs


def qwen3_moe_prime(experts, layers=(0,)):
    specs = [("model.embed_tokens.weight", [8, 4], "BF16")] if len(layers) > 1 else []
    for layer in layers:
        p = f"model.layers.{layer}."
        specs += [(p + "input_layernorm.weight", [4], "BF16"), (p + "mlp.router.gate.weight", [experts, 4], "BF16"),
                  (p + "mlp.experts.w1", [experts, 2, 4], "BF16"), (p + "mlp.experts.w2", [experts, 4, 2], "BF16"),
                  (p + "mlp.experts.w3", [experts, 2, 4], "BF16")]
    return specs


def mixtral_hf(experts):
    p = "model.layers.1.block_sparse_moe."
    specs = [(p + "gate.weight", [experts, 4], "BF16")]
    for e in range(experts):
        for w, shape in (("w1", [2, 4]), ("w2", [4, 2]), ("w3", [2, 4])):
            specs.append((f"{p}experts.{e}.{w}.weight", shape, "BF16"))
    return specs


SEEDS = {
    "qwen3_moe_check": spell("qwen3_moe", CHECK, qwen3_moe_hf(3)),
    "qwen3_moe_to_prime": spell("qwen3_moe", LOWER, qwen3_moe_hf(2)),
    "qwen3_moe_to_hf": spell("qwen3_moe", TO_HF, qwen3_moe_prime(2)),
    "qwen3_moe_to_hf_offset": spell("qwen3_moe", TO_HF | (3 << 2), qwen3_moe_prime(2)),
    "mixtral_check": spell("mixtral", CHECK, mixtral_hf(2)),
    # Several layers alike: lowered a layer at a time, against lowering whole.
    "qwen3_moe_layers_to_prime": spell("qwen3_moe", LOWER, qwen3_moe_hf(2, (0, 1, 10))),
    "qwen3_moe_layers_to_hf": spell("qwen3_moe", TO_HF, qwen3_moe_prime(2, (0, 1, 10))),
}

if __name__ == "__main__":
    out_dir = os.path.join(ROOT, "tests", "fuzz", "corpus", "key_set")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)

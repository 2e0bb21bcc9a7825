"""Value-level golden tests of the dequantizing ops, through the CLI on safetensors files.
The expected tensors come from plain Python written from ../shared/TARGETS.md, never from
the engine: E4M3 and E2M1 decoded from their bit fields (4.5, 5.2), block scales applied
block by block (4.3), re-quantization by a brute-force search for the nearest representable
value with ties to the even code (4.4), and MXFP4's low-nibble-first packing and E8M0
exponents (5.2). Odd sizes (dims that are not a multiple of the block), stacked experts,
F32 and BF16 scales, BF16 and F32 outputs."""
import json
import math
import os
import struct
import subprocess

import pytest
import torch

CLI = os.environ["CHAINCONV_CLI"]
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "U8": torch.uint8,
          "F8_E4M3": torch.uint8}
NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.uint8: "U8"}


def write(path, tensors, dtypes=None):
    """tensors: name -> tensor; dtypes: name -> a safetensors dtype overriding the tensor's
    (F8_E4M3 bytes are held as uint8)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        blob = t.view(torch.uint8).numpy().tobytes()
        dtype = (dtypes or {}).get(name, NAMES[t.dtype])
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    with open(os.path.join(os.path.dirname(path), "config.json"), "w") as f:
        json.dump({"model_type": "test"}, f)


def read(directory):
    """name -> (safetensors dtype, tensor)."""
    out = {}
    for file in sorted(os.listdir(directory)):
        if not file.endswith(".safetensors"):
            continue
        with open(os.path.join(directory, file), "rb") as f:
            data = f.read()
        (size,) = struct.unpack("<Q", data[:8])
        for name, info in json.loads(data[8:8 + size]).items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            raw = bytearray(data[8 + size + start:8 + size + end])
            t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if raw else torch.empty(0)
            out[name] = (info["dtype"], t.reshape(info["shape"]))
    return out


def convert(tmp_path, chain, src, dst, to):
    chain_file = tmp_path / "chain.yaml"
    chain_file.write_text("version: 1\nmodel_types: [test]\ndescription: quant\nops:\n" + chain)
    r = subprocess.run([CLI, "convert", str(src), str(dst), "--to", to, "--chain",
                        str(chain_file), "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return read(dst)


def e4m3(code):
    """TARGETS.md 4.5: s eeee mmm, bias 7; e = 0 is subnormal; S.1111.111 is NaN."""
    sign = -1.0 if code & 0x80 else 1.0
    e, m = (code >> 3) & 0xF, code & 0x7
    if e == 15 and m == 7:
        return math.nan
    return sign * (2.0 ** -6 * m / 8 if e == 0 else 2.0 ** (e - 7) * (1 + m / 8))


def e2m1(code):
    """TARGETS.md 5.2: sign bit 3, exponent bits 2..1 with bias 1, mantissa bit 0."""
    sign = -1.0 if code & 0x8 else 1.0
    e, m = (code >> 1) & 0x3, code & 0x1
    return sign * (0.5 * m if e == 0 else 2.0 ** (e - 1) * (1 + m / 2))


def nearest(x, magnitudes, sign_bit):
    """The code of the representable value nearest x (magnitudes[i] is code i's), ties to
    the even code, saturating; the sign as its own bit."""
    a = abs(x)
    best = min(range(len(magnitudes)), key=lambda i: (abs(a - magnitudes[i]), i & 1))
    return best | (sign_bit if math.copysign(1.0, x) < 0 else 0)


E4M3_POSITIVE = [e4m3(c) for c in range(127)]
E2M1_POSITIVE = [e2m1(c) for c in range(8)]


def random_fp8(shape, generator):
    codes = torch.randint(0, 256, shape, generator=generator, dtype=torch.int64)
    codes[(codes & 0x7F) == 0x7F] = 0x38  # no NaN codes
    return codes.to(torch.uint8)


def dequant_fp8_reference(codes, scale, block):
    """W[r, c] = value(Wq[r, c]) * S[r // b0, c // b1], computed element by element."""
    b0, b1 = block
    flat_codes = codes.reshape(-1, *codes.shape[-2:])
    flat_scale = scale.float().reshape(-1, *scale.shape[-2:])
    out = torch.empty(flat_codes.shape, dtype=torch.float64)
    for e in range(flat_codes.shape[0]):
        for r in range(flat_codes.shape[1]):
            for c in range(flat_codes.shape[2]):
                out[e, r, c] = e4m3(int(flat_codes[e, r, c])) * float(flat_scale[e, r // b0, c // b1])
    return out.reshape(codes.shape)


@pytest.mark.parametrize("scale_dtype,out_dtype", [("F32", "BF16"), ("BF16", "F32")])
def test_fp8_block_dequantize_and_requantize(tmp_path, scale_dtype, out_dtype):
    g = torch.Generator().manual_seed(3)
    block = (4, 3)
    # One matrix whose dims are not multiples of the block, and stacked experts.
    shapes = {"m.a.weight": (9, 7), "m.experts.w1": (2, 5, 6)}
    hf, dtypes = {}, {}
    for name, shape in shapes.items():
        grid = (*shape[:-2], math.ceil(shape[-2] / block[0]), math.ceil(shape[-1] / block[1]))
        hf[name] = random_fp8(shape, g)
        dtypes[name] = "F8_E4M3"
        hf[name + "_scale_inv"] = (torch.rand(grid, generator=g) * 0.01 + 1e-3).to(DTYPES[scale_dtype])
    hf["m.norm"] = torch.ones(7)
    write(str(tmp_path / "hf" / "model.safetensors"), hf, dtypes)
    chain = (f'  - dequant_fp8_block: {{key: ["m.a.weight", "m.experts.w1"], block: [{block[0]}, '
             f'{block[1]}], dtype: {out_dtype}, scale_dtype: {scale_dtype}}}\n')
    prime = convert(tmp_path, chain, tmp_path / "hf", tmp_path / "prime", "prime")
    assert sorted(prime) == ["m.a.weight", "m.experts.w1", "m.norm"]
    for name in shapes:
        dtype, got = prime[name]
        assert dtype == out_dtype
        want = dequant_fp8_reference(hf[name], hf[name + "_scale_inv"], block)
        # The product is formed in float32 and rounded once to the output dtype.
        assert torch.equal(got, want.float().to(DTYPES[out_dtype])), name

    back = convert(tmp_path, chain, tmp_path / "prime", tmp_path / "back", "hf")
    assert sorted(back) == sorted(hf)
    for name in shapes:
        x = prime[name][1].float()
        rows, cols = x.shape[-2:]
        sdtype, scale = back[name + "_scale_inv"]
        assert sdtype == scale_dtype
        qdtype, codes = back[name]
        assert qdtype == "F8_E4M3"
        xs = x.reshape(-1, rows, cols)
        for e in range(xs.shape[0]):
            for i in range(math.ceil(rows / block[0])):
                for j in range(math.ceil(cols / block[1])):
                    tile = xs[e, i * block[0]:(i + 1) * block[0], j * block[1]:(j + 1) * block[1]]
                    s_want = torch.tensor(max(tile.abs().max().item(), 1e-4), dtype=torch.float32) / 448
                    s = scale.reshape(-1, *scale.shape[-2:])[e, i, j]
                    assert s == s_want.to(DTYPES[scale_dtype]), (name, e, i, j)
                    inverse = torch.tensor(1.0, dtype=torch.float32) / s.float()
                    for r in range(tile.shape[0]):
                        for c in range(tile.shape[1]):
                            q = (tile[r, c] * inverse).item()  # float32, as DeepGEMM
                            want = nearest(q, E4M3_POSITIVE, 0x80)
                            got = int(codes.reshape(-1, rows, cols)[e, i * block[0] + r, j * block[1] + c])
                            assert got == want, (name, e, i, j, r, c, q)


def mxfp4_reference(blocks, scales):
    """W[..., 32 g + 2 b + n] = E2M1((B[..., g, b] >> 4n) & 0xF) * 2^(S[..., g] - 127)."""
    *lead, groups, _ = blocks.shape
    flat_b = blocks.reshape(-1, groups, 16)
    flat_s = scales.reshape(-1, groups)
    out = torch.empty(flat_b.shape[0], groups * 32, dtype=torch.float64)
    for row in range(flat_b.shape[0]):
        for g in range(groups):
            factor = 2.0 ** (int(flat_s[row, g]) - 127)
            for b in range(16):
                byte = int(flat_b[row, g, b])
                out[row, 32 * g + 2 * b] = e2m1(byte & 0xF) * factor
                out[row, 32 * g + 2 * b + 1] = e2m1(byte >> 4) * factor
    return out.reshape(*lead, groups * 32)


@pytest.mark.parametrize("out_dtype", ["BF16", "F32"])
def test_mxfp4_dequantize_and_repack(tmp_path, out_dtype):
    g = torch.Generator().manual_seed(5)
    hf = {
        "x.e.gate_up_proj_blocks": torch.randint(0, 256, (3, 5, 2, 16), generator=g).to(torch.uint8),
        "x.e.gate_up_proj_scales": torch.randint(110, 140, (3, 5, 2), generator=g).to(torch.uint8),
    }
    write(str(tmp_path / "hf" / "model.safetensors"), hf)
    chain = ('  - dequant_mxfp4: {blocks: "x.e.gate_up_proj_blocks", scales: '
             f'"x.e.gate_up_proj_scales", to: "x.e.gate_up_proj", dtype: {out_dtype}}}\n')
    prime = convert(tmp_path, chain, tmp_path / "hf", tmp_path / "prime", "prime")
    assert sorted(prime) == ["x.e.gate_up_proj"]
    dtype, w = prime["x.e.gate_up_proj"]
    assert dtype == out_dtype and list(w.shape) == [3, 5, 64]
    want = mxfp4_reference(hf["x.e.gate_up_proj_blocks"], hf["x.e.gate_up_proj_scales"])
    assert torch.equal(w, want.to(DTYPES[out_dtype]))

    # Re-packing: each group's exponent puts its amax in [4, 8), codes round to even.
    back = convert(tmp_path, chain, tmp_path / "prime", tmp_path / "back", "hf")
    assert sorted(back) == sorted(hf)
    x = w.double().reshape(-1, 2, 32)
    blocks = back["x.e.gate_up_proj_blocks"][1].reshape(-1, 2, 16)
    scales = back["x.e.gate_up_proj_scales"][1].reshape(-1, 2)
    for row in range(x.shape[0]):
        for grp in range(2):
            amax = x[row, grp].abs().max().item()
            exponent = math.frexp(amax)[1] - 1 - 2 if amax > 0 else -127
            assert int(scales[row, grp]) == max(0, min(254, exponent + 127))
            factor = 2.0 ** (int(scales[row, grp]) - 127)
            for b in range(16):
                lo = nearest(x[row, grp, 2 * b].item() / factor, E2M1_POSITIVE, 0x8)
                hi = nearest(x[row, grp, 2 * b + 1].item() / factor, E2M1_POSITIVE, 0x8)
                assert int(blocks[row, grp, b]) == lo | (hi << 4), (row, grp, b)
    # Decoded values were codes times a power of two: packing them again loses no value.
    again = convert(tmp_path, chain, tmp_path / "back", tmp_path / "again", "prime")
    assert torch.equal(again["x.e.gate_up_proj"][1], w)

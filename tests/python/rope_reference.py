"""The RoPE q/k row permutation HF -> Meta / torchtitan written from ../shared/TARGETS.md §1.2
in plain torch, the reference the shape-op and torchtitan tests compare the engine with."""
import torch


def hf_to_meta(w, n):
    """TARGETS.md §1.2 index form: TT[h*hd + 2i + j, c] = HF[h*hd + j*(hd/2) + i, c]."""
    hd = w.shape[0] // n
    out = torch.empty_like(w)
    for h in range(n):
        for i in range(hd // 2):
            for j in range(2):
                out[h * hd + 2 * i + j] = w[h * hd + j * (hd // 2) + i]
    return out

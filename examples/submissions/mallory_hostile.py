"""Mallory's submission: hostile. Each function attacks the grader in a different way; the few that
are honest should still earn their points, and no attack may cost anyone else's row.

  patchify            loops forever                          -> the per-call timeout
  unpatchify          hunts the disk for the hidden tests and the reference solution, and cheats with them
  sequence_length     sys.exit(0)                            -> must not look like a clean finish
  modulate            os._exit(0): the student process dies mid-call
  gated_residual      tries to kill its parent process, then answers correctly
  count_parameters    returns an int subclass whose == is always True
  find_conv2d         floods stdout with 20 MB of text, then answers correctly
  generate            tries to allocate 6 GB
  everything else is honest and correct.
"""

import os
import signal
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def patchify(z, p):
    while True:
        pass


def _steal():
    """Look for the grader's files anywhere readable and load the reference solution from them."""
    found = {}
    for root in [*sys.path, "/autograder", "/work", os.path.expanduser("~"), "/tmp"]:
        for dirpath, _dirs, files in os.walk(root or "."):
            for f in files:
                if f == "reference.py" or dirpath.endswith(os.path.join("ditgrade", "hidden")):
                    try:
                        with open(os.path.join(dirpath, f)) as fh:
                            found[os.path.join(dirpath, f)] = fh.read()
                    except OSError:
                        pass
            if len(found) > 3:
                break
    for path, text in found.items():
        if path.endswith("reference.py"):
            ns = {}
            exec(text, ns)
            return ns
    raise RuntimeError(f"nothing to steal ({len(found)} files readable)")


def unpatchify(tokens, p, c, h, w):
    return _steal()["unpatchify"](tokens, p, c, h, w)


def sequence_length(h, w, p):
    sys.exit(0)


def modulate(x, shift, scale):
    os._exit(0)


def gated_residual(x, gate, sublayer_out):
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    return x + gate.unsqueeze(1) * sublayer_out


class AdaLNZero(nn.Sequential):
    def __init__(self, cond_dim, d_model):
        super().__init__(nn.SiLU(), nn.Linear(cond_dim, 6 * d_model))
        nn.init.zeros_(self[1].weight)
        nn.init.zeros_(self[1].bias)

    def forward(self, c):
        return tuple(super().forward(c).chunk(6, dim=-1))


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (given). x: [B, L, D] -> [B, L, D]"""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, L, D = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, heads, L, head_dim]
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, L, D))


class Mlp(nn.Module):
    """Linear -> tanh-GELU -> Linear (given). x: [B, L, D] -> [B, L, D]"""

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """One DiT block with adaLN-Zero conditioning. x: [B, L, D], c: [B, D] -> [B, L, D]"""

    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = AdaLNZero(hidden_size, hidden_size)

    def forward(self, x, c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c)
        x = gated_residual(x, gate1, self.attn(modulate(self.norm1(x), shift1, scale1)))
        return gated_residual(x, gate2, self.mlp(modulate(self.norm2(x), shift2, scale2)))


class _AlwaysEqual(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def count_parameters(model):
    return _AlwaysEqual(0)


def estimate_dit_params(hidden_size, depth):
    return 18 * hidden_size**2 * depth


def exact_dit_params(depth, hidden_size, patch_size, in_channels=4, out_channels=8, num_classes=1000):
    d = hidden_size
    per_block = (256 * d + d) + (d * d + d) + (num_classes + 1) * d + 4 * (d * d + d) \
        + (d * 4 * d + 4 * d) + (4 * d * d + d) + (d * 6 * d + 6 * d)
    head = (d * 2 * d + 2 * d) + (d * patch_size**2 * out_channels + patch_size**2 * out_channels)
    return in_channels * patch_size**2 * d + d + depth * per_block + head


def find_conv2d(model):
    sys.stdout.write(("spam " * 200 + "\n") * 20_000)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def convs_in_blocks(model, blocks_attr="transformer_blocks"):
    prefix = blocks_attr + "."
    getattr(model, blocks_attr)
    return [n for n, _ in find_conv2d(model) if n == blocks_attr or n.startswith(prefix)]


def cfg_combine(eps_cond, eps_uncond, scale):
    return eps_uncond + scale * (eps_cond - eps_uncond)


def generate(pipe, class_labels, guidance_scale=4.0, num_inference_steps=50, seed=42):
    hog = b"x" * (6 * 2**30)  # really touches the memory, unlike bytearray(n)
    del hog
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(class_labels=list(class_labels), guidance_scale=guidance_scale,
               num_inference_steps=num_inference_steps, generator=g, output_type="np")
    return (out.images * 255).round().astype(np.uint8)

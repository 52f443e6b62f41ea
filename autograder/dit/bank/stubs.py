# ruff: noqa: F401
"""Stub submission: what the student template looks like before any work.

Every API name is defined with the template's signature and raises NotImplementedError("TODO ...");
the given Attention and Mlp classes and DiTBlock.__init__ are complete, as in the template.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def patchify(z, p):
    raise NotImplementedError("TODO(q1): implement patchify")


def unpatchify(tokens, p, c, h, w):
    raise NotImplementedError("TODO(q1): implement unpatchify")


def sequence_length(h, w, p):
    raise NotImplementedError("TODO(q1): implement sequence_length")


def modulate(x, shift, scale):
    raise NotImplementedError("TODO(q2): implement modulate")


def gated_residual(x, gate, sublayer_out):
    raise NotImplementedError("TODO(q2): implement gated_residual")


class AdaLNZero(nn.Sequential):
    def __init__(self, cond_dim, d_model):
        raise NotImplementedError("TODO(q2): implement AdaLNZero.__init__")

    def forward(self, c):
        raise NotImplementedError("TODO(q2): implement AdaLNZero.forward")


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
        raise NotImplementedError("TODO(q2): implement DiTBlock.forward")


def count_parameters(model):
    raise NotImplementedError("TODO(q3): implement count_parameters")


def estimate_dit_params(hidden_size, depth):
    raise NotImplementedError("TODO(q3): implement estimate_dit_params")


def exact_dit_params(depth, hidden_size, patch_size, in_channels=4, out_channels=8, num_classes=1000):
    raise NotImplementedError("TODO(q3): implement exact_dit_params")


def find_conv2d(model):
    raise NotImplementedError("TODO(q4): implement find_conv2d")


def convs_in_blocks(model, blocks_attr="transformer_blocks"):
    raise NotImplementedError("TODO(q4): implement convs_in_blocks")


def cfg_combine(eps_cond, eps_uncond, scale):
    raise NotImplementedError("TODO(q5): implement cfg_combine")


def generate(pipe, class_labels, guidance_scale=4.0, num_inference_steps=50, seed=42):
    raise NotImplementedError("TODO(q5): implement generate")

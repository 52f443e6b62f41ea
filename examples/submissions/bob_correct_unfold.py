"""Bob's submission, exported from his notebook as a script: correct, written with Tensor.unfold,
split() and explicit loops."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def patchify(z, p):
    if z.dim() != 4:
        raise ValueError("patchify needs a [B, C, H, W] tensor")
    b, c, h, w = z.shape
    if h % p != 0 or w % p != 0:
        raise ValueError("H and W must be multiples of p")
    # [B, C, H/p, W/p, p, p]: unfold the rows, then the columns
    patches = z.unfold(2, p, p).unfold(3, p, p)
    patches = patches.permute(0, 2, 3, 1, 4, 5)  # grid first, then (C, p, p)
    return patches.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(tokens, p, c, h, w):
    if tokens.dim() != 3:
        raise ValueError("tokens must be [B, L, D]")
    if h % p != 0 or w % p != 0:
        raise ValueError("h and w must be multiples of p")
    b, n, d = tokens.shape
    rows, cols = h // p, w // p
    if n != rows * cols or d != c * p * p:
        raise ValueError("tokens do not match (c, h, w, p)")
    grid = tokens.view(b, rows, cols, c, p, p)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def sequence_length(h, w, p):
    rows = h // p
    cols = w // p
    return rows * cols


def modulate(x, shift, scale):
    return x * (1.0 + scale[:, None, :]) + shift[:, None, :]


def gated_residual(x, gate, sublayer_out):
    return x + gate[:, None, :] * sublayer_out


class AdaLNZero(nn.Sequential):
    def __init__(self, cond_dim, d_model):
        linear = nn.Linear(cond_dim, 6 * d_model)
        with torch.no_grad():
            linear.weight.zero_()
            linear.bias.zero_()
        super().__init__(nn.SiLU(), linear)
        self.d_model = d_model

    def forward(self, c):
        out = self[1](self[0](c))
        return tuple(out.split(self.d_model, dim=-1))


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
        mods = self.adaLN_modulation(c)
        shift1, scale1, gate1 = mods[0], mods[1], mods[2]
        shift2, scale2, gate2 = mods[3], mods[4], mods[5]
        h = self.attn(modulate(self.norm1(x), shift1, scale1))
        x = gated_residual(x, gate1, h)
        h = self.mlp(modulate(self.norm2(x), shift2, scale2))
        x = gated_residual(x, gate2, h)
        return x


def count_parameters(model):
    total = 0
    for param in model.parameters():
        total += param.numel()
    return total


def estimate_dit_params(hidden_size, depth):
    per_block = 4 * hidden_size**2 + 8 * hidden_size**2 + 6 * hidden_size**2
    return per_block * depth


def exact_dit_params(depth, hidden_size, patch_size, in_channels=4, out_channels=8, num_classes=1000):
    d = hidden_size
    total = in_channels * patch_size * patch_size * d + d  # patch embedding conv
    for _ in range(depth):
        total += 256 * d + d + d * d + d  # timestep MLP
        total += (num_classes + 1) * d  # class table with the null class
        total += 4 * (d * d + d)  # q, k, v, out
        total += (d * 4 * d + 4 * d) + (4 * d * d + d)  # MLP
        total += d * 6 * d + 6 * d  # adaLN
    total += d * 2 * d + 2 * d  # final shift/scale
    total += d * patch_size * patch_size * out_channels + patch_size * patch_size * out_channels
    return total


def find_conv2d(model):
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            found.append((name, module))
    return found


def convs_in_blocks(model, blocks_attr="transformer_blocks"):
    container = getattr(model, blocks_attr)
    inside = {id(m) for m in container.modules()}
    return [name for name, module in find_conv2d(model) if id(module) in inside]


def cfg_combine(eps_cond, eps_uncond, scale):
    return eps_uncond + scale * (eps_cond - eps_uncond)


def generate(pipe, class_labels, guidance_scale=4.0, num_inference_steps=50, seed=42):
    gen = torch.Generator("cpu")
    gen.manual_seed(seed)
    result = pipe(class_labels=list(class_labels), guidance_scale=guidance_scale,
                  num_inference_steps=num_inference_steps, generator=gen, output_type="np")
    images = np.clip(np.asarray(result.images) * 255.0 + 0.5, 0, 255)
    return images.astype(np.uint8)

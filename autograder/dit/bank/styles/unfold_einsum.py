"""A correct submission in another style: F.unfold/F.fold, einsum attention, a hand-written LayerNorm,
lists instead of tuples, torch.lerp for guidance, PIL output stacked by hand."""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def patchify(z, p):
    if z.ndim != 4:
        raise ValueError("need [B, C, H, W]")
    if z.shape[-2] % p != 0 or z.shape[-1] % p != 0:
        raise ValueError("H and W must be multiples of p")
    return F.unfold(z, kernel_size=p, stride=p).transpose(1, 2)


def unpatchify(tokens, p, c, h, w):
    if tokens.ndim != 3 or h % p or w % p:
        raise ValueError("bad tokens or size")
    if tokens.shape[1] != (h // p) * (w // p) or tokens.shape[2] != c * p * p:
        raise ValueError("tokens do not fit")
    return F.fold(tokens.transpose(1, 2), output_size=(h, w), kernel_size=p, stride=p)


def sequence_length(h, w, p):
    return h * w // (p * p)


def modulate(x, shift, scale):
    return torch.einsum("bld,bd->bld", x, 1 + scale) + shift[:, None, :]


def gated_residual(x, gate, sublayer_out):
    return torch.addcmul(x, gate[:, None, :], sublayer_out)


class AdaLNZero(nn.Sequential):
    def __init__(self, cond_dim, d_model):
        linear = nn.Linear(cond_dim, 6 * d_model)
        with torch.no_grad():
            linear.weight.zero_()
            linear.bias.zero_()
        super().__init__(nn.SiLU(), linear)

    def forward(self, c):
        y = self[1](self[0](c))
        return tuple(torch.split(y, y.shape[-1] // 6, dim=-1))


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, L, D = x.shape
        hd = D // self.num_heads
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (t.reshape(B, L, self.num_heads, hd) for t in (q, k, v))
        att = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(hd)
        out = torch.einsum("bhlm,bmhd->blhd", att.softmax(dim=-1), v)
        return self.proj(out.reshape(B, L, D))


class Mlp(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def layer_norm(x, eps=1e-6):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


class DiTBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.attn = Attention(hidden_size, num_heads)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = AdaLNZero(hidden_size, hidden_size)

    def forward(self, x, c):
        m = self.adaLN_modulation(c)
        x = gated_residual(x, m[2], self.attn(modulate(layer_norm(x), m[0], m[1])))
        return gated_residual(x, m[5], self.mlp(modulate(layer_norm(x), m[3], m[4])))


def count_parameters(model):
    return sum(p.numel() for _, p in model.named_parameters())


def estimate_dit_params(hidden_size, depth):
    return 18 * hidden_size * hidden_size * depth


def exact_dit_params(depth, hidden_size, patch_size, in_channels=4, out_channels=8, num_classes=1000):
    d, p = hidden_size, patch_size
    per_block = (4 * d * d + 4 * d) + (8 * d * d + 5 * d) + (6 * d * d + 6 * d)
    per_block += (256 * d + d + d * d + d) + (num_classes + 1) * d
    embed = in_channels * p * p * d + d
    head = (2 * d * d + 2 * d) + (d * p * p * out_channels + p * p * out_channels)
    return embed + depth * per_block + head


def find_conv2d(model):
    def walk(module, prefix):
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            yield full, child
            yield from walk(child, full + ".")

    pairs = [("", model)] + list(walk(model, ""))
    return [(n, m) for n, m in pairs if isinstance(m, nn.Conv2d)]


def convs_in_blocks(model, blocks_attr="transformer_blocks"):
    container = getattr(model, blocks_attr)
    return [f"{blocks_attr}.{n}" if n else blocks_attr for n, m in container.named_modules() if isinstance(m, nn.Conv2d)]


def cfg_combine(eps_cond, eps_uncond, scale):
    return torch.lerp(eps_uncond, eps_cond, scale)


def generate(pipe, class_labels, guidance_scale=4.0, num_inference_steps=50, seed=42):
    g = torch.Generator(device=pipe.device).manual_seed(seed)
    images = pipe(class_labels=class_labels, guidance_scale=guidance_scale,
                  num_inference_steps=num_inference_steps, generator=g).images
    return np.stack([np.array(im) for im in images]).astype(np.uint8)

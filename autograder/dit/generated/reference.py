"""Reference solution of the assignment.

GENERATED from the master notebook by `ditgrade build`: do not edit by hand.
The graders import it; student processes never see it.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def patchify(z, p):
    """Cut a latent into a row-major sequence of flattened p x p patches.

    z: [B, C, H, W]  ->  tokens: [B, (H // p) * (W // p), C * p * p], each token in (C, p, p) order.
    """
    if z.dim() != 4:
        raise ValueError(f"patchify expects a 4-D latent [B, C, H, W], got shape {tuple(z.shape)}")
    B, C, H, W = z.shape
    if H % p or W % p:
        raise ValueError(f"H={H} and W={W} must both be divisible by the patch size p={p}")
    gh, gw = H // p, W // p
    x = z.reshape(B, C, gh, p, gw, p)
    x = x.permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, C, p, p]
    return x.reshape(B, gh * gw, C * p * p)


def unpatchify(tokens, p, c, h, w):
    """Inverse of patchify.

    tokens: [B, (h // p) * (w // p), c * p * p]  ->  [B, c, h, w]
    """
    if tokens.dim() != 3:
        raise ValueError(f"unpatchify expects tokens [B, L, D], got shape {tuple(tokens.shape)}")
    if h % p or w % p:
        raise ValueError(f"h={h} and w={w} must both be divisible by p={p}")
    B, L, D = tokens.shape
    gh, gw = h // p, w // p
    if L != gh * gw or D != c * p * p:
        raise ValueError(
            f"tokens {tuple(tokens.shape)} do not fit c={c}, h={h}, w={w}, p={p}: "
            f"expected L={gh * gw} and D={c * p * p}"
        )
    x = tokens.reshape(B, gh, gw, c, p, p)
    x = x.permute(0, 3, 1, 4, 2, 5)  # [B, c, gh, p, gw, p]
    return x.reshape(B, c, h, w)


def sequence_length(h, w, p):
    """Number of tokens for an h x w latent cut into p x p patches."""
    return (h // p) * (w // p)


def modulate(x, shift, scale):
    """Adaptive LayerNorm's affine step. x: [B, L, D]; shift, scale: [B, D] -> [B, L, D]"""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def gated_residual(x, gate, sublayer_out):
    """x + gate * sublayer_out. x, sublayer_out: [B, L, D]; gate: [B, D] -> [B, L, D]"""
    return x + gate.unsqueeze(1) * sublayer_out


class AdaLNZero(nn.Sequential):
    """c: [B, cond_dim] -> six [B, d_model] modulation vectors, all zero at initialisation.

    Order: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
    """

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
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c)
        x = gated_residual(x, gate_msa, self.attn(modulate(self.norm1(x), shift_msa, scale_msa)))
        x = gated_residual(x, gate_mlp, self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp)))
        return x


def count_parameters(model):
    """Total number of parameters of an nn.Module."""
    return sum(p.numel() for p in model.parameters())


def estimate_dit_params(hidden_size, depth):
    """The lesson's back-of-envelope count: 18 * d^2 per block, times depth."""
    return 18 * hidden_size**2 * depth


def exact_dit_params(depth, hidden_size, patch_size, in_channels=4, out_channels=8, num_classes=1000):
    """Exact parameter count of diffusers' DiTTransformer2DModel for this configuration."""
    d = hidden_size

    def linear(n_in, n_out):
        return n_in * n_out + n_out

    patch_embed = in_channels * patch_size**2 * d + d  # Conv2d(C, d, p, stride=p)
    timestep_mlp = linear(256, d) + linear(d, d)  # sinusoidal features -> d -> d
    class_table = (num_classes + 1) * d  # + the null class
    attention = 4 * linear(d, d)  # q, k, v, out
    mlp = linear(d, 4 * d) + linear(4 * d, d)
    adaln = linear(d, 6 * d)
    block = timestep_mlp + class_table + attention + mlp + adaln
    head = linear(d, 2 * d) + linear(d, patch_size**2 * out_channels)
    return patch_embed + depth * block + head


def find_conv2d(model):
    """Every nn.Conv2d (subclasses too) at any depth, as (name, module), in named_modules() order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def convs_in_blocks(model, blocks_attr="transformer_blocks"):
    """Names of the Conv2d modules inside getattr(model, blocks_attr)."""
    getattr(model, blocks_attr)  # an AttributeError here names the missing container
    return [name for name, _ in find_conv2d(model) if name == blocks_attr or name.startswith(blocks_attr + ".")]


def cfg_combine(eps_cond, eps_uncond, scale):
    """Classifier-free guidance: eps_uncond + scale * (eps_cond - eps_uncond)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def generate(pipe, class_labels, guidance_scale=4.0, num_inference_steps=50, seed=42):
    """Sample one image per class label with a DiTPipeline. Returns uint8 [N, H, W, 3]."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(
        class_labels=list(class_labels),
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        generator=generator,
        output_type="np",
    )
    return (out.images * 255).round().astype(np.uint8)

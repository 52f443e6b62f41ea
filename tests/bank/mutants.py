"""The mutation bank: realistic single-mistake submissions, each one textual replacement in the reference.

A mutant is data (name, question, description, old, new): ``old`` must occur exactly once in the
reference source and ``apply_mutant`` swaps it for ``new``. Every mutant must lose points in its
own question and keep full marks in every other question (tests/test_mutation_bank.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    question: str
    description: str
    old: str
    new: str


PATCHIFY_PERMUTE = "    x = x.permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, C, p, p]"
PATCHIFY_RETURN = "    return x.reshape(B, gh * gw, C * p * p)\n"
PATCHIFY_FIRST_RESHAPE = "    x = z.reshape(B, C, gh, p, gw, p)"
ADALN_SUPER = "super().__init__(nn.SiLU(), nn.Linear(cond_dim, 6 * d_model))"
BLOCK_UNPACK = "shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c)"
CONV_FILTER = "if isinstance(m, nn.Conv2d)]"
BLOCKS_FILTER = 'if name == blocks_attr or name.startswith(blocks_attr + ".")]'
GEN_RETURN = "    return (out.images * 255).round().astype(np.uint8)"

MUTANTS: tuple[Mutant, ...] = (
    # q1 -------------------------------------------------------------------------------------
    Mutant("patchify_token_order_ppc", "q1", "each token flattened in (p, p, C) order instead of (C, p, p)",
           PATCHIFY_PERMUTE, "    x = x.permute(0, 2, 4, 3, 5, 1)  # [B, gh, gw, p, p, C]"),
    Mutant("patchify_column_major", "q1", "patch grid walked column by column",
           PATCHIFY_PERMUTE, "    x = x.permute(0, 4, 2, 1, 3, 5)  # [B, gw, gh, C, p, p]"),
    Mutant("patchify_batch_one", "q1", "reshape hard-codes a batch of 1",
           PATCHIFY_RETURN, "    return x.reshape(1, gh * gw, C * p * p)\n"),
    Mutant("patchify_no_divisibility_check", "q1", "no ValueError when H or W is not divisible by p",
           '    if H % p or W % p:\n        raise ValueError(f"H={H} and W={W} must both be divisible by the patch size p={p}")\n',
           ""),
    Mutant("patchify_modifies_input", "q1", "scales the latent in place (z *= 0.18215) after reading it",
           PATCHIFY_RETURN, "    out = x.reshape(B, gh * gw, C * p * p).clone()\n    z.mul_(0.18215)\n    return out\n"),
    Mutant("patchify_detaches", "q1", "detaches the latent, so no gradient reaches z",
           PATCHIFY_FIRST_RESHAPE, "    x = z.detach().reshape(B, C, gh, p, gw, p)"),
    Mutant("patchify_casts_float32", "q1", "casts to float32",
           PATCHIFY_FIRST_RESHAPE, "    x = z.float().reshape(B, C, gh, p, gw, p)"),
    Mutant("patchify_via_numpy", "q1", "round trip through numpy (breaks gradients)",
           PATCHIFY_RETURN, "    return torch.from_numpy(x.reshape(B, gh * gw, C * p * p).detach().numpy().copy())\n"),
    Mutant("unpatchify_square_only", "q1", "unpatchify uses h for w",
           "    return x.reshape(B, c, h, w)", "    return x.reshape(B, c, h, h)"),
    Mutant("unpatchify_grid_transposed", "q1", "unpatchify swaps the grid axes",
           "    x = x.permute(0, 3, 1, 4, 2, 5)  # [B, c, gh, p, gw, p]", "    x = x.permute(0, 3, 2, 4, 1, 5)"),
    Mutant("unpatchify_no_fit_check", "q1", "no ValueError when token count or width does not fit",
           "    if L != gh * gw or D != c * p * p:", "    if False:"),
    Mutant("sequence_length_forgets_square", "q1", "divides by p instead of p*p",
           "    return (h // p) * (w // p)", "    return (h * w) // p"),
    # q2 -------------------------------------------------------------------------------------
    Mutant("modulate_without_one_plus", "q2", "the lesson's gamma * LN + beta without the 1 +",
           "x * (1 + scale.unsqueeze(1))", "x * scale.unsqueeze(1)"),
    Mutant("modulate_shift_scale_swapped", "q2", "shift and scale swapped",
           "return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)",
           "return x * (1 + shift.unsqueeze(1)) + scale.unsqueeze(1)"),
    Mutant("modulate_broadcast_over_batch", "q2", "shift/scale broadcast along the batch (x[None] style)",
           "return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)", "return x * (1 + scale[None]) + shift[None]"),
    Mutant("gated_residual_ungated", "q2", "the gate is ignored", "return x + gate.unsqueeze(1) * sublayer_out",
           "return x + sublayer_out"),
    Mutant("gated_residual_gate_over_batch", "q2", "gate[None] instead of gate[:, None]",
           "return x + gate.unsqueeze(1) * sublayer_out", "return x + gate[None] * sublayer_out"),
    Mutant("adaln_no_zero_init", "q2", "the Linear's weight is not zeroed",
           "        nn.init.zeros_(self[1].weight)\n", ""),
    Mutant("adaln_no_silu", "q2", "no SiLU before the Linear", ADALN_SUPER,
           "super().__init__(nn.Identity(), nn.Linear(cond_dim, 6 * d_model))"),
    Mutant("adaln_width_from_cond_dim", "q2", "Linear(cond_dim, 6 * cond_dim)", ADALN_SUPER,
           "super().__init__(nn.SiLU(), nn.Linear(cond_dim, 6 * cond_dim))"),
    Mutant("adaln_chunks_along_batch", "q2", "chunks along dim 0 instead of the last dim",
           "super().forward(c).chunk(6, dim=-1)", "super().forward(c).chunk(6, dim=0)"),
    Mutant("adaln_chunk_order_interleaved", "q2", "chunks read as (shift, scale, gate) interleaved per branch",
           "return tuple(super().forward(c).chunk(6, dim=-1))",
           "chunks = super().forward(c).chunk(6, dim=-1)\n        return tuple(chunks[i] for i in (0, 2, 4, 1, 3, 5))"),
    Mutant("block_unpack_order", "q2", "DiTBlock unpacks the six vectors in the wrong order", BLOCK_UNPACK,
           "shift_msa, shift_mlp, scale_msa, scale_mlp, gate_msa, gate_mlp = self.adaLN_modulation(c)"),
    Mutant("block_mlp_uses_attention_gate", "q2", "the MLP branch is gated by gate_msa",
           "x = gated_residual(x, gate_mlp, self.mlp(", "x = gated_residual(x, gate_msa, self.mlp("),
    Mutant("block_attention_without_norm", "q2", "attention branch skips norm1",
           "self.attn(modulate(self.norm1(x), shift_msa, scale_msa))", "self.attn(modulate(x, shift_msa, scale_msa))"),
    Mutant("block_norm_eps_1e-5", "q2", "norm1 with LayerNorm's default eps 1e-5",
           "self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)",
           "self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-5)"),
    Mutant("block_norm_affine", "q2", "norm2 with learnable affine parameters",
           "self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)",
           "self.norm2 = nn.LayerNorm(hidden_size, eps=1e-6)"),
    Mutant("attention_over_heads", "q2", "attention mixes heads instead of tokens (wrong permute)",
           "q, k, v = qkv.permute(2, 0, 3, 1, 4)", "q, k, v = qkv.permute(2, 0, 1, 3, 4)"),
    Mutant("attention_unscaled", "q2", "attention without the 1/sqrt(head_dim) scale",
           "out = F.scaled_dot_product_attention(q, k, v)", "out = F.scaled_dot_product_attention(q, k, v, scale=1.0)"),
    Mutant("mlp_relu", "q2", "the MLP uses ReLU", 'self.act = nn.GELU(approximate="tanh")', "self.act = nn.ReLU()"),
    Mutant("mlp_exact_gelu", "q2", "the MLP uses the exact (erf) GELU instead of the tanh approximation",
           'self.act = nn.GELU(approximate="tanh")', "self.act = nn.GELU()"),
    # q3 -------------------------------------------------------------------------------------
    Mutant("estimate_12_d_squared", "q3", "12 d^2 per block (forgets adaLN's 6 d^2)",
           "return 18 * hidden_size**2 * depth", "return 12 * hidden_size**2 * depth"),
    Mutant("count_state_dict", "q3", "counts state_dict entries (buffers too)",
           "return sum(p.numel() for p in model.parameters())",
           "return sum(t.numel() for t in model.state_dict().values())"),
    Mutant("count_direct_children_only", "q3", "counts only the parameters of direct children",
           "return sum(p.numel() for p in model.parameters())",
           "return sum(p.numel() for m in model.children() for p in m.parameters(recurse=False))"),
    Mutant("count_via_numpy", "q3", "counts through numpy, which fails on a meta-device model",
           "return sum(p.numel() for p in model.parameters())",
           "return sum(p.detach().numpy().size for p in model.parameters())"),
    Mutant("exact_shared_embedders", "q3", "one timestep MLP and class table for the whole model",
           "    return patch_embed + depth * block + head",
           "    return patch_embed + timestep_mlp + class_table + depth * (block - timestep_mlp - class_table) + head"),
    Mutant("exact_no_null_class", "q3", "class table without the null class",
           "class_table = (num_classes + 1) * d", "class_table = num_classes * d"),
    Mutant("exact_no_final_layer", "q3", "forgets the final layer",
           "    return patch_embed + depth * block + head", "    return patch_embed + depth * block"),
    Mutant("exact_final_linear_no_bias", "q3", "the final projection without its bias",
           "linear(d, patch_size**2 * out_channels)", "d * patch_size**2 * out_channels"),
    Mutant("exact_in_channels_for_output", "q3", "the final projection uses in_channels",
           "linear(d, patch_size**2 * out_channels)", "linear(d, patch_size**2 * in_channels)"),
    # q4 -------------------------------------------------------------------------------------
    Mutant("find_exact_type", "q4", "type(m) is nn.Conv2d misses subclasses", CONV_FILTER, "if type(m) is nn.Conv2d]"),
    Mutant("find_top_level_only", "q4", "scans named_children() only",
           "for name, m in model.named_modules() if", "for name, m in model.named_children() if"),
    Mutant("find_counts_conv_transpose", "q4", "ConvTranspose2d counted as a Conv2d", CONV_FILTER,
           "if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]"),
    Mutant("find_any_conv", "q4", "any module whose type name contains 'Conv'", CONV_FILTER,
           'if "Conv" in type(m).__name__]'),
    Mutant("blocks_substring_match", "q4", "'transformer_blocks' in name", BLOCKS_FILTER, "if blocks_attr in name]"),
    Mutant("blocks_prefix_without_dot", "q4", "name.startswith(blocks_attr) without the dot", BLOCKS_FILTER,
           "if name.startswith(blocks_attr)]"),
    Mutant("blocks_attr_ignored", "q4", "always looks in transformer_blocks", BLOCKS_FILTER,
           'if name.startswith("transformer_blocks.")]'),
    # q5 -------------------------------------------------------------------------------------
    Mutant("cfg_swapped", "q5", "eps_cond + s * (eps_uncond - eps_cond)",
           "return eps_uncond + scale * (eps_cond - eps_uncond)", "return eps_cond + scale * (eps_uncond - eps_cond)"),
    Mutant("cfg_no_base", "q5", "forgets eps_uncond +", "return eps_uncond + scale * (eps_cond - eps_uncond)",
           "return scale * (eps_cond - eps_uncond)"),
    Mutant("generate_unseeded", "q5", "no generator: global RNG, not seeded",
           'generator = torch.Generator(device="cpu").manual_seed(seed)', "generator = None"),
    Mutant("generate_fixed_seed", "q5", "always seeds with 42", "manual_seed(seed)", "manual_seed(42)"),
    Mutant("generate_seed_off_by_one", "q5", "seeds with seed + 1", "manual_seed(seed)", "manual_seed(seed + 1)"),
    Mutant("generate_float_images", "q5", "returns the float images in [0, 1]", GEN_RETURN,
           "    return out.images"),
    Mutant("generate_channels_first", "q5", "returns [N, 3, H, W]", GEN_RETURN,
           "    return (out.images * 255).round().astype(np.uint8).transpose(0, 3, 1, 2)"),
    Mutant("generate_ignores_guidance", "q5", "always guidance 4.0", "guidance_scale=guidance_scale,",
           "guidance_scale=4.0,"),
    Mutant("generate_ignores_steps", "q5", "always 25 steps", "num_inference_steps=num_inference_steps,",
           "num_inference_steps=25,"),
    Mutant("generate_ignores_labels", "q5", "samples class 0 for every label", "class_labels=list(class_labels),",
           "class_labels=[0] * len(class_labels),"),
    Mutant("generate_wrong_default_guidance", "q5", "default guidance_scale=1.0",
           "guidance_scale=4.0, num_inference_steps=50, seed=42):", "guidance_scale=1.0, num_inference_steps=50, seed=42):"),
)


def apply_mutant(source: str, mutant: Mutant) -> str:
    count = source.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.name}: its `old` text occurs {count} times in the reference, expected once")
    return source.replace(mutant.old, mutant.new)

"""DiT pipelines built from config with random weights: nothing is ever downloaded.

``tiny_dit_pipeline`` is the CPU-sized pipeline q5's hidden tests sample with (a few ms a step);
``dit_xl2_pipeline`` has DiT-XL/2's real architecture (the sd-vae-ft-ema VAE, a DDIM scheduler)
for the GPU job when the real weights are not on disk. Both are returned in eval mode: in train
mode the transformer's label embedding drops classes at random and seeded sampling stops being
reproducible.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiTPipeline, DiTTransformer2DModel

from .models import add_spares, copy_of

# DDIM as the DiT checkpoint's scheduler config uses it: linear betas, no sample clipping.
DDIM_CONFIG = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                   clip_sample=False)


def _pipeline(transformer: DiTTransformer2DModel, vae: AutoencoderKL) -> DiTPipeline:
    pipe = DiTPipeline(transformer=transformer.eval(), vae=vae.eval(), scheduler=DDIMScheduler(**DDIM_CONFIG))
    pipe.set_progress_bar_config(disable=True)
    return pipe


_TINY: dict[int, tuple[DiTTransformer2DModel, AutoencoderKL]] = {}


def tiny_dit_pipeline(seed: int = 0) -> DiTPipeline:
    """A DiTPipeline small enough for CPU tests: 8x8x4 latents, 16x16 RGB images.

    1000 classes like ImageNet (DiTPipeline hard-codes 1000 as the null class). The weights are drawn
    from ``torch.manual_seed(seed)``, so the grader's process and the student's process build the
    identical pipeline from the same seed. Each call gets its own copy of models built once per
    process (``warm`` builds seed 0's before the grader forks its fork server).
    """
    if seed not in _TINY:
        _TINY[seed] = _tiny_models(seed)
    return _pipeline(*copy_of(("tiny_pipeline", seed), _TINY[seed]))


SPARE_PIPELINES = 13  # spare copies of seed 0's models in the fork server: one grade's generate calls


def warm() -> None:
    """Build the tiny pipeline's models once (a hooks.py warm-up)."""
    if 0 not in _TINY:
        _TINY[0] = _tiny_models(0)


def make_spares() -> None:
    """Copies of the tiny pipeline's models for the workers to take (the fork server's warm-up only)."""
    warm()
    add_spares(("tiny_pipeline", 0), _TINY[0], SPARE_PIPELINES)


def _tiny_models(seed: int) -> tuple[DiTTransformer2DModel, AutoencoderKL]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = DiTTransformer2DModel(
            num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=2,
            sample_size=8, patch_size=2, num_embeds_ada_norm=1000, norm_eps=1e-6,
        )
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1, norm_num_groups=4, sample_size=16,
        )
        # With the default init, seeds, classes and guidance barely move the image; a wider init makes
        # every one of them change it visibly, which q5's tests need to tell them apart.
        for p in transformer.parameters():
            torch.nn.init.normal_(p, std=0.05)
    return transformer, vae


def dit_xl2_pipeline(dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                     seed: int = 0) -> DiTPipeline:
    """DiT-XL/2 256x256 (transformer + sd-vae-ft-ema VAE + DDIM) from config, random weights.

    The weights are drawn from ``torch.manual_seed(seed)`` on ``device``: the grader and the
    student's process, each building its own, must hold the same model for the images to agree.
    """
    device = torch.device(device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.device(device):
        torch.manual_seed(seed)
        transformer = DiTTransformer2DModel(out_channels=8)  # the defaults are DiT-XL/2
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2, latent_channels=4, sample_size=256, scaling_factor=0.18215,
        )
    return _pipeline(transformer.to(dtype), vae.to(dtype))

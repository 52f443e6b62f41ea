"""Allocates 8 GB."""
import torch


def patchify(z, p):
    return torch.ones(2 * 1024**3, dtype=torch.float32)

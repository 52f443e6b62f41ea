"""Not an attack: how many threads the student's process has while a call multiplies matrices (the
call's own thread and the serve loop's; no team of OpenMP threads started for the call)."""
import os

import torch


def sequence_length(h, w, p):
    x = torch.randn(64, 64)
    (x @ x).sum()
    return len(os.listdir("/proc/self/task"))

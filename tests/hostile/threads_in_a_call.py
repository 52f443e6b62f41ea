"""Not an attack: how many threads the student's process has while a call multiplies matrices (the
call's own thread and the serve loop's; no team of OpenMP threads started for the call).

The fewest seen within a second: the previous call's thread may still be ending when this call
starts (on a loaded machine, once in a few hundred calls), while a team started for this call lives
as long as this call's thread does."""
import os
import time

import torch


def sequence_length(h, w, p):
    x = torch.randn(64, 64)
    (x @ x).sum()
    fewest, until = len(os.listdir("/proc/self/task")), time.monotonic() + 1.0
    while fewest > 2 and time.monotonic() < until:
        time.sleep(0.005)
        fewest = min(fewest, len(os.listdir("/proc/self/task")))
    return fewest

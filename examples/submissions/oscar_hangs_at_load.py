"""Oscar's submission: hostile at definition time. Python runs a class body and a function's default
arguments when the definition executes, so merely loading this file never finishes (class body) or
exits the process (default argument). It must score 0 without holding up anyone else's grading.
"""

import sys

import torch
import torch.nn as nn


def patchify(z, p):
    return z  # not even a try: everything here is about the two attacks below


def sequence_length(h, w, p, _stop=sys.exit(7)):
    return (h // p) * (w // p)


class AdaLNZero(nn.Sequential):
    while True:
        torch.zeros(1)

    def forward(self, c):
        return tuple(super().forward(c).chunk(6, dim=-1))

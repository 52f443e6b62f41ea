"""The student API: which names each question asks for (the contract of the assignment).

The notebook's stubs, the reference module, the hidden tests and the extraction of a
submission all agree on these names.
"""

from __future__ import annotations

API: dict[str, tuple[str, ...]] = {
    "q1": ("patchify", "unpatchify", "sequence_length"),
    "q2": ("modulate", "gated_residual", "AdaLNZero", "DiTBlock"),
    "q3": ("count_parameters", "estimate_dit_params", "exact_dit_params"),
    "q4": ("find_conv2d", "convs_in_blocks"),
    "q5": ("cfg_combine", "generate"),
}
# Given to students (not graded) but needed by DiTBlock.
GIVEN: tuple[str, ...] = ("Attention", "Mlp")
ALL_NAMES: tuple[str, ...] = tuple(n for names in API.values() for n in names)

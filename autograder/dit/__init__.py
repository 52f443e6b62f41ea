"""The DiT assignment's grading material (see ``ditgrade.core.assignment`` for the layout).

    assignment.toml   the title; the note staff see when the GPU part did not run
    hooks.py          what the engine asks of the assignment: preload, warm-up, weights, GPU, offline
    probes.py         how the hidden tests call student code            (student's process)
    models.py         trusted module trees and tiny diffusers models   (both processes)
    pipelines.py      DiT pipelines built from config                  (both processes)
    sampling.py       q5's DiT-XL/2 job on a GPU                        (both processes)
    hidden/           the hidden tests                                  (grader's process)
    generated/        the reference and the notebook's questions, written by `ditgrade build`
    bank/             correct solutions and single-mistake mutants: the release gates' evidence
"""

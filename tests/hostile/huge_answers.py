"""Answers far larger, and far deeper, than any result."""


def patchify(z, p):
    return ["x" * 99_000] * 2000  # ~200 MB of strings


def unpatchify(tokens, p, c, h, w):
    deep = []
    for _ in range(100_000):
        deep = [deep]
    return deep


def sequence_length(h, w, p):
    return (h // p) * (w // p)

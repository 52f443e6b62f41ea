"""Prints 100 MB, then answers correctly."""


def patchify(z, p):
    line = "x" * 1023 + "\n"
    for _ in range(100 * 1024):
        print(line, end="")
    B, C, H, W = z.shape
    return z.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)

"""patchify leaves its worker almost no memory to give (as if it had kept the rest: it lowers the
address-space limit to what is mapped now and 12 MB); sequence_length is honest and needs some. Independent
attack round 12: memory one question's code kept failed another question's honest calls."""
import mmap
import resource


def patchify(z, p):
    with open("/proc/self/status") as f:
        mapped = int(f.read().split("VmSize:")[1].split()[0]) * 1024
    # 12 MB left: enough to answer, not enough for anything else (as if it had kept the rest)
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (12 << 20), resource.getrlimit(resource.RLIMIT_AS)[1]))
    return z


def sequence_length(h, w, p):
    scratch = mmap.mmap(-1, 32 << 20)  # honest, but it needs 32 MB (a fresh mapping: no heap can serve it)
    return (h // p) * (w // p) + scratch[0]


def unpatchify(tokens, p, c, h, w):
    try:
        mmap.mmap(-1, 32 << 20)  # honest too; when memory is short it says so in words of its own
    except OSError:
        raise RuntimeError("could not create a primitive") from None  # as oneDNN does (round 13)
    return tokens.reshape(tokens.shape[0], c, h, w)

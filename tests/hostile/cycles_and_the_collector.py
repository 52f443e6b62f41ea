"""Not an attack: when the worker's collections find the student's garbage cycles. ``patchify``
makes a cycle and drops it (young: found at the end of that call), returns a tensor that holds a
third (garbage once the answer is written: found at the end of that call too), and keeps another
one alive;
``unpatchify`` lets the kept one go (old by then: found by a later full collection);
``sequence_length`` answers with what the finalizers saw so far: (which cycle, on the main thread?)."""
import threading

EVENTS = []
KEPT = []


class _Node:
    def __init__(self, name):
        self.name = name
        self.other = None

    def __del__(self):
        EVENTS.append(f"{self.name} main={threading.current_thread() is threading.main_thread()}")


def _cycle(name):
    a, b = _Node(name), _Node(name + "-twin")
    a.other, b.other = b, a
    return a


def patchify(z, p):
    _cycle("young")
    KEPT.append(_cycle("old"))
    out = z.clone()
    out.cycle = _cycle("returned")
    return out


def unpatchify(tokens, p, c, h, w):
    KEPT.clear()
    return tokens


def sequence_length(h, w, p):
    return " ".join(EVENTS)

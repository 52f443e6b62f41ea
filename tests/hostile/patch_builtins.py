"""Replaces builtins at import (isinstance, len, print), then returns garbage."""
import builtins

builtins.isinstance = lambda *a, **k: True
builtins.len = lambda *a, **k: 0
builtins.print = lambda *a, **k: None


def patchify(z, p):
    return "garbage"

"""Tries to leave a perfect results.json where the grader writes its own (__TARGET__ from the test)."""
import json


def patchify(z, p):
    with open("__TARGET__", "w") as f:
        json.dump({"score": 1000, "tests": []}, f)
    return z

"""The ``ditgrade`` command: one subcommand per job.

    ditgrade build      regenerate student_template/, solutions/ and the reference module
    ditgrade run        grade one submission into a Gradescope results.json
    ditgrade grade      grade a folder of submissions (TA batch grading)
    ditgrade release    build and check the packages handed out

Each subcommand lives in its own module, which exposes ``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("build", "run", "grade", "release")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ditgrade", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ditgrade.cmd_{name}")
        except ModuleNotFoundError as e:
            if e.name != f"ditgrade.cmd_{name}":
                raise
            continue
        module.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

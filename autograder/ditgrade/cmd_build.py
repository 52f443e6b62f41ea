"""``ditgrade build``: regenerate the student template, the solutions and the reference module."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="regenerate student_template/, solutions/ and the reference module "
                                     "from assignment/dit_assignment.ipynb")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .build import build

    for name, path in build().items():
        print(f"wrote {name}: {path}")
    return 0

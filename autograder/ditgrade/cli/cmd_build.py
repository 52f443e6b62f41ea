"""``ditgrade build``: regenerate what derives from the master notebook."""

from __future__ import annotations

import argparse

from . import common_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="regenerate student_template/, solutions/ and the grading folder's generated/",
                       description="Regenerate student_template/, solutions/ and <grading folder>/generated/ "
                                   "(reference, questions and points, public checks) from the master notebook "
                                   "assignment/<name>.ipynb. A failing build leaves the previous files as they were.",
                       epilog="example: ditgrade build")
    common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..packaging.build import BuildError, build
    from ..project import Project
    from . import UsageError

    try:
        written = build(Project.find(args.project))
    except BuildError as e:
        raise UsageError(str(e)) from None
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0

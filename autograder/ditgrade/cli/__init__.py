"""The ``ditgrade`` command: one subcommand per job, one module per subcommand.

    ditgrade build      regenerate student_template/, solutions/ and the grading folder's generated/
    ditgrade run        grade one submission into a Gradescope results.json
    ditgrade grade      grade many submissions (a folder, files, a Gradescope export)
    ditgrade release    build the packages handed out, and refuse unless every release gate passes

Conventions: the project is the folder you stand in (or ``--project DIR``, before or after the
subcommand as otter's options go; an unpacked autograder.zip is a project too); ``-o`` is ``--out``
and ``-v`` says more, as in otter; results and tables go to stdout, progress and logs to stderr;
exit 0 when the job completed, 1 when some of it failed for the grader's own reasons, 2 for a usage
error (a missing path, an unwritable folder, not a project, invalid settings), with one line saying
what and where (one per problem). Text a student wrote reaches the terminal only on one line
(``core.text.one_line``), after the grader's own words or on a marked line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import NoReturn

from .. import __version__

SUBCOMMANDS = ("build", "run", "grade", "release", "audit")
DESCRIPTION = ("Build, check and grade an autograded notebook assignment. Run it in the course project "
               "(the folder holding otter_config.json) or name one with --project.")
EXAMPLES = """examples:
  ditgrade build
  ditgrade run examples/submissions/carol_correct.ipynb -o out/carol
  ditgrade grade examples/submissions -o out
  ditgrade grade export.zip -o out --project path/to/unzipped/autograder
  ditgrade release -o dist
"""
PROJECT_HELP = ("the course project: a folder holding otter_config.json, or an unpacked autograder.zip (default: "
                "the folder holding otter_config.json, here or above)")


def common_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """--project and -v, accepted before the subcommand and after it (otter's options follow it).
    Only the top level has defaults: a subcommand's copy sets the value only when it is given."""
    default: dict = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--project", metavar="DIR", help=PROJECT_HELP, **({"default": None} if top else default))
    parser.add_argument("-v", "--verbose", action="count", help="say more (run: every test; grade: a line per "
                        "submission)", **({"default": 0} if top else default))


def load_assignment(args: argparse.Namespace):
    """The assignment of the project ``args`` name, its settings checked against the master
    (otter's points_possible)."""
    from ..config import check_points
    from ..core.assignment import Assignment
    from ..project import Project

    assignment = Assignment.load(Project.find(args.project))
    check_points(assignment.project.config, sum(assignment.points.values()))
    return assignment


def out_option(parser: argparse.ArgumentParser, help: str, **kwargs) -> None:
    """``-o``/``--out``, as otter's ``-o``/``--output-dir``."""
    parser.add_argument("-o", "--out", type=Path, help=help, **kwargs)


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ditgrade", description=DESCRIPTION,
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ditgrade {__version__}")
    common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"ditgrade.cli.cmd_{name}").add_parser(sub)
    args = parser.parse_args(argv)
    from ..config import ConfigError
    from ..core.assignment import AssignmentError
    from ..core.text import one_line
    from ..project import NotAProject

    for stream in (sys.stdout, sys.stderr):  # a student's name must not stop the output on a non-UTF-8 terminal
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="backslashreplace")
    try:
        return int(args.func(args) or 0)
    except (UsageError, NotAProject, ConfigError, AssignmentError) as e:
        for line in str(e).splitlines() or [""]:  # one line per problem (ConfigError lists each key)
            print(f"ditgrade {args.command}: {one_line(line)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ditgrade {args.command}: interrupted", file=sys.stderr)
        return 130


def command() -> NoReturn:
    """The ``ditgrade`` command itself (``python -m ditgrade`` and the installed script): ``main``, then
    the process ends without the interpreter's tear-down of the libraries it imported (``core.leave``)."""
    from ..core.leave import leave

    leave(main())


if __name__ == "__main__":
    command()

"""The ``ditgrade`` command: one subcommand per job, one module per subcommand.

    ditgrade build      regenerate student_template/, solutions/ and the grading folder's generated/
    ditgrade run        grade one submission into a Gradescope results.json
    ditgrade grade      grade many submissions (a folder, files, a Gradescope export)
    ditgrade release    build the packages handed out, and refuse unless every release gate passes

Conventions: the project is the folder you stand in (or ``--project DIR``); results and tables
go to stdout, progress and logs to stderr; exit 0 when the job completed, 1 when some of it failed
for the grader's own reasons, 2 for a usage error (a missing path, an unwritable folder, not a
project, invalid settings), with one line saying what and where.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

SUBCOMMANDS = ("build", "run", "grade", "release", "audit")
DESCRIPTION = ("Build, check and grade an autograded notebook assignment. Run it in the course project "
               "(the folder holding otter_config.json) or name one with --project.")
EXAMPLES = """examples:
  ditgrade build
  ditgrade run examples/submissions/carol_correct.ipynb --out out/carol
  ditgrade grade examples/submissions --out out
  ditgrade release --out dist
"""


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ditgrade", description=DESCRIPTION,
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ditgrade {__version__}")
    parser.add_argument("--project", metavar="DIR", default=None,
                        help="the course project (default: the folder holding otter_config.json, here or above)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"ditgrade.cli.cmd_{name}").add_parser(sub)
    args = parser.parse_args(argv)
    from ..config import ConfigError
    from ..core.assignment import AssignmentError
    from ..project import NotAProject

    try:
        return int(args.func(args) or 0)
    except (UsageError, NotAProject, ConfigError, AssignmentError) as e:
        print(f"ditgrade {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ditgrade {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

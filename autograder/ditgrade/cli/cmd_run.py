"""``ditgrade run SUBMISSION --out DIR``: grade one submission into DIR/results.json."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from . import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="grade one submission into DIR/results.json (Gradescope's format)",
                       description="Grade one submission (.ipynb, .py, the notebook's export .zip, or a folder "
                                   "holding one) and write DIR/results.json. Exits 0 whenever grading completed, "
                                   "whatever the score.",
                       epilog="example: ditgrade run examples/submissions/carol_correct.ipynb --out out/carol")
    p.add_argument("submission", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for results.json")
    p.add_argument("--gpu", action="store_true", help="also run the tests that need a CUDA GPU")
    p.add_argument("--json", action="store_true", help="print results.json to stdout instead of the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.assignment import Assignment
    from ..core.results import error_results, summary
    from ..core.text import clean
    from ..packaging.gradescope import pick_submission
    from ..project import Project

    if not args.submission.exists():
        raise UsageError(f"no such file or folder: {args.submission}")
    target = args.out / "results.json"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        target.touch()
    except OSError as e:  # nowhere to write the grade
        raise UsageError(f"cannot write {target}: {e.strerror}") from None
    assignment = Assignment.load(Project.find(args.project))
    path = args.submission
    if path.is_dir():
        path = pick_submission(path, assignment.project.notebook_name) or path
    code = 0
    try:
        from ..core.grade import grade_submission

        data = grade_submission(path, gpu=args.gpu, assignment=assignment)
    except Exception as e:  # the grader itself failed: still leave a valid results.json behind
        traceback.print_exc()
        data = error_results(f"{type(e).__name__}: {e}", cfg=assignment.project.config)
        code = 1
    target.write_text(json.dumps(data, indent=2), encoding="ascii")  # ASCII JSON: a lone surrogate is escaped
    # the summary holds the student's messages: no control characters, nothing stdout cannot encode
    print(json.dumps(data, indent=2) if args.json else clean(summary(data, assignment.question_ids)))
    print(clean(f"results: {target}"), file=sys.stderr)
    return code

"""``ditgrade run SUBMISSION -o DIR``: grade one submission into DIR/results.json."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from . import UsageError, common_options, load_assignment, out_option

if TYPE_CHECKING:
    from ..core.results import Grade


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="grade one submission into DIR/results.json (Gradescope's format)",
                       description="Grade one submission (.ipynb, .py, the notebook's export .zip, or a folder "
                                   "holding one: its <name>.ipynb, else its only notebook) and write "
                                   "DIR/results.json. Exits 0 whenever grading completed, whatever the score.",
                       epilog="example: ditgrade run examples/submissions/carol_correct.ipynb -o out/carol")
    p.add_argument("submission", type=Path)
    out_option(p, "folder for results.json", required=True)
    p.add_argument("--gpu", action="store_true", help="also run the tests that need a CUDA GPU")
    p.add_argument("--json", action="store_true", help="print results.json to stdout instead of the summary")
    common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.files import pick
    from ..core.results import error_results, summary, unreadable_results
    from ..core.text import one_line

    if not args.submission.exists():
        raise UsageError(f"no such file or folder: {args.submission}")
    target = args.out / "results.json"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        target.touch()
    except OSError as e:  # nowhere to write the grade
        raise UsageError(f"cannot write {target}: {e.strerror}") from None
    assignment = load_assignment(args)
    cfg = assignment.project.config
    path, note = pick(args.submission, assignment.project.notebook_name)
    code = 0
    if path is None:  # nothing, or no single file, to grade: the student reads why
        data = unreadable_results(note, cfg=cfg)
    else:
        try:
            from ..grading import grade_submission

            data = grade_submission(path, gpu=args.gpu, assignment=assignment)
        except Exception as e:  # the grader itself failed: still leave a valid results.json behind
            traceback.print_exc()
            data = error_results(f"{type(e).__name__}: {e}", cfg=cfg)
            code = 1
        data = _name_the_file(data, path, args.submission, note)
    results = data.to_gradescope()
    target.write_text(json.dumps(results, indent=2), encoding="ascii")  # ASCII JSON: a lone surrogate is escaped
    if args.json:
        print(json.dumps(results, indent=2))
    elif cfg.otter["print_summary"]:  # otter's print_summary / print_score
        print(summary(data, assignment.question_ids, verbose=args.verbose > 0, show_score=cfg.otter["print_score"]))
    print(f"results: {one_line(target)}", file=sys.stderr)
    return code


def _name_the_file(grade: Grade, path: Path, given: Path, note: str) -> Grade:
    """The grade, saying which file was graded (results.json, the summary) and, when it was chosen
    among others, saying so first in what the student reads."""
    from dataclasses import replace

    from ..core.text import clean

    name = path.relative_to(given).as_posix() if given.is_dir() else path.name
    grade = grade.with_info(file=clean(name))
    if note:
        lead = clean(note[:1].upper() + note[1:] + ".")
        grade = replace(grade, output=lead + ("\n" + grade.output if grade.output else "")).with_info(choice=clean(note))
    return grade

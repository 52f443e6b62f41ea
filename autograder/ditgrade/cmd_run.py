"""``ditgrade run SUBMISSION --out DIR [--gpu]``: grade one submission into DIR/results.json."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="grade one submission (.ipynb, .py or export .zip) into DIR/results.json")
    p.add_argument("submission", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for results.json")
    p.add_argument("--gpu", action="store_true", help="also run q5's DiT-XL/2 sampling job (needs CUDA)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .results import error_results, summary

    target = args.out / "results.json"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # nowhere to write the grade: the grader cannot run
        print(f"ditgrade run: cannot write {target}: {e}", file=sys.stderr)
        return 2
    code = 0
    try:
        from .run import grade_submission

        data = grade_submission(args.submission, gpu=args.gpu)
    except Exception as e:  # the grader itself failed: still leave a valid results.json behind
        traceback.print_exc()
        data = error_results(f"{type(e).__name__}: {e}")
        code = 1
    target.write_text(json.dumps(data, indent=2))
    print(summary(data))
    print(f"results: {target}", file=sys.stderr)
    return code

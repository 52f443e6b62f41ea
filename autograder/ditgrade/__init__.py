"""ditgrade: a sandboxed autograder for notebook assignments (the engine; each assignment is a folder of its own).

    worker/     what runs in the student's (sandboxed) process: imports nothing from the rest
    sandbox/    starting workers and talking to them (fork server, runner, budgets)
    core/       one grade: the project's assignment, extraction, the suite, comparisons, results
    batch/      many grades: discovery, warm workers, resuming, reports and upload files
    packaging/  what instructors hand out: build, release gates, Gradescope's autograder.zip
    cli/        the ``ditgrade`` command
"""

import os
import sys

# torch.cuda.is_available() starts the CUDA driver unless told to ask NVML, and no fork of a process
# that started it can use CUDA: the grader forks its fork server, which forks the workers that run
# the --gpu tests. Set before anything imports torch (libraries ask at import time).
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
# One OpenMP and MKL thread unless the operator said otherwise, read once when torch loads them (so
# before it is imported): parallelism is ``-j``, one grading process per core. The worker sets one
# thread on each call's own thread whatever this process started with (``ditgrade.worker.main``).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

if sys.version_info < (3, 11):  # noqa: UP036 - the dependencies need 3.11: say so instead of failing on an import
    raise SystemExit(f"ditgrade needs Python 3.11 or newer; this is {sys.version.split()[0]}")

__version__ = "0.2.0"

"""Warm grading workers on this machine: the local executor of a batch.

Each worker is a process (``spawn``) that sets itself up once (``warmup``: its fork server, the
hidden tests, one torch thread) and then grades one submission after another with ``grade_fn``.
The parent hands out one submission at a time and numbers each request; a reply must carry the
request's number and the submission's id, or the worker is killed and a fresh one takes its place.
A worker that hangs past ``timeout`` or dies costs only its own submission's row.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from ..core.leave import leave
from .discover import Submission

if TYPE_CHECKING:
    from ..core.assignment import Assignment

GradeFn = Callable[..., dict]
WORKER_MARGIN_S = 120.0  # a worker's own set-up on a busy machine, on top of the sandbox's budgets
OnDone = Callable[[Submission, str, Any, float], None]  # (submission, "ok" | "error" | "unstarted", payload, seconds)


def worker_timeout(assignment: Assignment, gpu: bool) -> float:
    """How long one submission may keep a worker before the worker itself is presumed stuck: the
    grade's own wall-clock deadline, plus a margin. From the same settings the sandbox reads
    (``$DITGRADE_CONFIG`` included)."""
    from ..grading import limits_for
    from ..sandbox.gpu import WAIT_S

    limits = limits_for(assignment, gpu=gpu)
    if gpu:  # the GPU tests' budgets, and the time a grader may wait for the card
        return limits.for_gpu_tests().submission_wall_s + WAIT_S + WORKER_MARGIN_S
    return limits.submission_wall_s + WORKER_MARGIN_S


def _resolve(grade_fn: str) -> GradeFn:
    module, _, name = grade_fn.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _worker_main(conn: Any, grade_fn: str, gpu: bool, project: str | None) -> None:
    """A warm worker: set up once, then grade what the parent sends until it sends None."""
    try:
        os.setpgrp()  # the parent kills the whole group (fork server and sandboxes included) on a timeout
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        if project:
            os.environ["DITGRADE_PROJECT"] = project
        fn = _resolve(grade_fn)
        warm = getattr(sys.modules.get(fn.__module__), "warmup", None)
        if callable(warm):
            warm()
    except BaseException as e:  # noqa: B036 - report why, instead of dying silently
        conn.send(("fatal", 0, "", f"{type(e).__name__}: {e}", 0.0))
        return
    conn.send(("ready", 0, "", None, 0.0))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            break
        if task is None:
            break
        req, sub_id, path = task
        start = time.perf_counter()
        try:
            result = fn(path, gpu=gpu, sub=sub_id)
            conn.send(("ok", req, sub_id, result, time.perf_counter() - start))
        except BaseException as e:  # noqa: B036 - a grade function's SystemExit must not end the worker silently
            conn.send(("error", req, sub_id, {"message": f"{type(e).__name__}: {e}",
                                              "traceback": traceback.format_exc()[-4000:]},
                       time.perf_counter() - start))
            if isinstance(e, KeyboardInterrupt):
                break
    leave(0)  # not the interpreter's tear-down of torch: the parent waits for it at the end of a batch


@contextlib.contextmanager
def _command_line_withheld() -> Iterator[None]:
    """Start a worker without this process's command line. multiprocessing's spawn sends the
    parent's ``sys.argv`` to the child (its preparation data), and a TA's command line names every
    submission of the batch; the worker forks its fork server from itself, and freed memory is not
    wiped, so those bytes would reach every sandbox (found by a05's scan of its own memory). The
    workers never read it."""
    saved = sys.argv[:]
    sys.argv[:] = saved[:1]
    try:
        yield
    finally:
        sys.argv[:] = saved


class _Worker:
    def __init__(self, ctx: Any, grade_fn: str, gpu: bool, project: str | None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, grade_fn, gpu, project), daemon=True)
        with _command_line_withheld():
            self.proc.start()
        child.close()
        self.ready = False
        self.task: Submission | None = None
        self.req = 0
        self.started = 0.0

    def send(self, sub: Submission, req: int) -> None:
        self.task, self.req, self.started = sub, req, time.monotonic()
        self.conn.send((req, sub.id, str(sub.path)))

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def ask_to_stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass

    def stop(self) -> None:
        """End the worker once ``ask_to_stop`` was sent (killed if it does not end in 10 s)."""
        self.proc.join(10)
        if self.proc.exitcode is None:
            self.kill()
        else:
            self.conn.close()


def run_local(todo: list[Submission], *, jobs: int, grade_fn: str, gpu: bool, timeout: float,
              on_done: OnDone, project: str | None = None) -> None:
    """Grade ``todo`` on ``jobs`` warm workers, calling ``on_done`` as each submission finishes."""
    ctx = mp.get_context("spawn")
    queue = list(reversed(todo))
    workers = [_Worker(ctx, grade_fn, gpu, project) for _ in range(min(jobs, len(todo)))]
    # A worker whose set-up fails is not replaced when it said why (an import error repeats
    # itself); one that died silently before it was ready is replaced a few times.
    silent_starts_left = 2 * len(workers)
    setup_error = ""
    next_req = 0
    try:
        while workers and (queue or any(w.task for w in workers)):
            for w in workers:
                if w.ready and w.task is None and queue:
                    next_req += 1
                    w.send(queue.pop(), next_req)
            waits = [w.started + timeout - time.monotonic() for w in workers if w.task]
            ready = wait([w.conn for w in workers] + [w.proc.sentinel for w in workers],
                         timeout=max(0.05, min(waits)) if waits else 1.0)
            for w in list(workers):
                failure = None
                if w.conn in ready:
                    try:
                        kind, req, sub_id, payload, seconds = w.conn.recv()
                    except (EOFError, OSError, ValueError, TypeError):
                        failure = "the grading worker died"
                    else:
                        if kind == "ready":
                            w.ready = True
                        elif kind == "fatal":
                            setup_error = str(payload)
                            failure = f"the grading worker could not start: {setup_error}"
                        elif w.task is None or req != w.req or sub_id != w.task.id:
                            failure = "the grading worker answered out of turn"
                        else:
                            sub, w.task = w.task, None
                            on_done(sub, kind, payload, seconds)
                elif w.proc.sentinel in ready and not w.proc.is_alive():
                    failure = "the grading worker died"
                if failure is None and w.task is not None and time.monotonic() - w.started > timeout:
                    failure = f"grading took longer than {timeout:.0f} s; the worker was killed"
                if failure is None:
                    continue
                if w.proc.exitcode not in (None, 0) and "died" in failure:
                    failure += f" (exit code {w.proc.exitcode})"
                w.kill()
                workers.remove(w)
                if w.task is not None:
                    on_done(w.task, "error", {"message": failure}, time.monotonic() - w.started)
                    replace = True
                elif w.ready:
                    replace = True
                else:
                    silent_starts_left -= 1
                    replace = not setup_error and silent_starts_left > 0
                if replace and (queue or any(x.task for x in workers)):
                    workers.append(_Worker(ctx, grade_fn, gpu, project))
        reason = setup_error or "its process died during set-up"
        for sub in reversed(queue):  # every worker failed to start
            on_done(sub, "unstarted", {"message": f"no grading worker could be started ({reason})"}, 0.0)
    finally:
        idle = [w for w in workers if w.task is None]
        for w in idle:  # all asked first: they end side by side
            w.ask_to_stop()
        for w in workers:
            if w.task is None:
                w.stop()
            else:
                w.kill()

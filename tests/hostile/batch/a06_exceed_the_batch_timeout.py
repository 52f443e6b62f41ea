"""Attack: make grading outlast the batch's own timeout, which the budgets are meant to prevent.

``pool.worker_timeout`` (load_cpu_s + 5 questions x question_cpu_s, times wall_factor, + 120 s:
1,520 s by default) is meant to be a backstop that budgets always keep a submission under. But
loading has no wall-clock cap of its own: each top-level statement may sit idle for up to
statement_cpu_s (10 s) and costs no load CPU while it sleeps, so 36 statements that sleep 9 s make
every worker start take 324 s; the first probe call of each question ends the worker
(``os._exit``), so the next question's first call starts (and loads) a new one. A question's
wall-clock budget is only checked before a call, so each question costs a full load: 5 x 324 s =
1,620 s, past the batch's 1,520 s. The batch then kills the grading process: the row says "error:
grading took longer than 1520 s" (a grader failure, retried on every rerun, 25 minutes each
time), the TA's command exits 1, and a03's orphan race is run on every such kill. Measured with 30
statements (270 s a load): 1,351 s for this one submission, with under a second of CPU.

What must hold instead: a submission's total grading time is bounded by its budgets (loading
included) well below the batch timeout; it scores 0 and its row is "graded".
"""
import os
import time

_s00 = time.sleep(9)
_s01 = time.sleep(9)
_s02 = time.sleep(9)
_s03 = time.sleep(9)
_s04 = time.sleep(9)
_s05 = time.sleep(9)
_s06 = time.sleep(9)
_s07 = time.sleep(9)
_s08 = time.sleep(9)
_s09 = time.sleep(9)
_s10 = time.sleep(9)
_s11 = time.sleep(9)
_s12 = time.sleep(9)
_s13 = time.sleep(9)
_s14 = time.sleep(9)
_s15 = time.sleep(9)
_s16 = time.sleep(9)
_s17 = time.sleep(9)
_s18 = time.sleep(9)
_s19 = time.sleep(9)
_s20 = time.sleep(9)
_s21 = time.sleep(9)
_s22 = time.sleep(9)
_s23 = time.sleep(9)
_s24 = time.sleep(9)
_s25 = time.sleep(9)
_s26 = time.sleep(9)
_s27 = time.sleep(9)
_s28 = time.sleep(9)
_s29 = time.sleep(9)
_s30 = time.sleep(9)
_s31 = time.sleep(9)
_s32 = time.sleep(9)
_s33 = time.sleep(9)
_s34 = time.sleep(9)
_s35 = time.sleep(9)


def patchify(z, p):
    os._exit(0)


def unpatchify(tokens, p, c, h, w):
    os._exit(0)


def sequence_length(h, w, p):
    os._exit(0)


def modulate(x, shift, scale):
    os._exit(0)


def count_parameters(model):
    os._exit(0)


def find_conv2d(model):
    os._exit(0)


def cfg_combine(eps_cond, eps_uncond, scale):
    os._exit(0)

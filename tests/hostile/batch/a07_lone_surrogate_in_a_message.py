"""Attack: an exception message holding a lone UTF-16 surrogate (``"\\ud800"``).

The worker sends it as JSON (``\\ud800``), the grader decodes it back into a Python str, and
``core.text.clean`` keeps it. results/<id>.json is written as ASCII JSON and survives, but
``batch.grade._finish`` then writes feedback/<id>.txt with ``Path.write_text`` (strict UTF-8):
UnicodeEncodeError, raised inside ``pool.run_local``'s loop. The batch stops there: every
submission not yet graded is never graded, the TA gets a traceback, and the ``finally`` that writes
grades.csv and report.html runs on the partial rows.

What must hold instead: whatever text a student's code produces, the batch writes every output
and grades every other submission.
"""


def sequence_length(h, w, p):
    raise ValueError("\ud800 lone surrogate")

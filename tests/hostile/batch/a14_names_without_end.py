"""Attack: make a grader-side check quadratic in the answer's size.

``convs_in_blocks`` returns 99,990 names (mostly repeated); a check that counts each name in the
list, or looks each one up in another list, takes minutes of the grader's CPU, and a budget that
counts the grader's time would then skip the rest of the question as "used up".

What must hold instead: the grader's checks are linear in the answer or refuse an answer far longer
than the model has modules at once; the rest of q4 runs, and the grader's time is never charged to
the student.
"""


def convs_in_blocks(model, blocks_attr="transformer_blocks"):
    return [f"{blocks_attr}.{i % 97}" for i in range(99_990)]


def find_conv2d(model):
    return [(f"m{i}", None) for i in range(99_990)]

"""Attack: pass the notebook's public checks without writing any function.

Patches doctest's output checker and example parser, and the printed output, in its own process,
so that every public check would look passed; defines none of the graded functions.

What must hold instead: the public checks are judged in the grader, from what each example
printed or raised, so this scores 0 on them (and on everything else) whatever ``public_test_weight``
is.
"""
import doctest
import sys

doctest.OutputChecker.check_output = lambda self, want, got, flags: True
doctest.DocTestParser.get_examples = lambda self, string, name="<string>": []


class _Quiet:
    def write(self, s):
        return len(s)

    def flush(self):
        pass


sys.displayhook = lambda value: None

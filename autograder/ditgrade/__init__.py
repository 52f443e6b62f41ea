"""ditgrade: the autograded Diffusion Transformers assignment and the framework that grades it.

Layout of the package (one job per module):
    codec       plain-data wire format between the sandboxed student process and the grader
    student     the Runner interface the hidden tests use to call student code
    reference   the reference solution, generated from the master notebook (do not edit)
    cli         the ``ditgrade`` command
"""

__version__ = "0.1.0"

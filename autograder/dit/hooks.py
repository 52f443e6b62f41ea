"""What the DiT assignment tells the grading engine (``ditgrade.hooks``)."""

from __future__ import annotations

import os
from pathlib import Path

from ditgrade.api import AssignmentHooks


class DiTHooks(AssignmentHooks):
    # Imported once by the fork server and shared by every sandboxed worker, so a worker starts in
    # milliseconds and never reads these packages' files; pyplot only there (every notebook imports
    # it, the hidden tests do not: the grader need not wait for it).
    preload = ("numpy", "torch", "diffusers", "diffusers.models.embeddings", "diffusers.models.lora",
               "dit.models", "dit.pipelines", "dit.sampling")
    preload_workers = ("matplotlib.pyplot",)

    def warm(self) -> None:
        """diffusers' tiny models and the tiny pipeline, built once and copied by every call instead of
        built again by each one (constructing them is most of a grade's time)."""
        from . import models, pipelines

        models.warm()
        pipelines.warm()

    def warm_workers(self) -> None:
        """Spare copies of those models for the workers, each taken by one probe call instead of a
        deep copy (a copy costs two to three times as much inside the sandbox)."""
        from . import models, pipelines

        models.make_spares()
        pipelines.make_spares()

    def readable_paths(self, gpu: bool) -> list[str]:
        """The DiT-XL/2 weights, for the GPU job."""
        if not gpu:
            return []
        from .sampling import resolve_source

        source = Path(resolve_source("auto"))
        if not source.is_dir():
            return []
        # a Hugging Face cache snapshot is made of links into the repository's blobs/: the whole repository
        if source.parent.name == "snapshots":
            return [str(source.parent.parent.resolve())]
        return [str(source.resolve())]

    def gpu_available(self) -> bool:
        """A CUDA device, or DITGRADE_GPU_DEVICE=cpu: the dry run of the same sandboxed path on the CPU
        (scripts/gpu_check.sh and the CI test of --gpu use it)."""
        if os.environ.get("DITGRADE_GPU_DEVICE") == "cpu":
            return True
        return super().gpu_available()

    def prepare_students(self) -> None:
        """``torch.compile`` without a compiler (``compile_without_a_compiler``)."""
        compile_without_a_compiler()

    def environment(self) -> dict[str, str]:
        """Nothing is ever downloaded: the Hugging Face libraries stay offline, in the grader too."""
        return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def compile_without_a_compiler() -> None:
    """``torch.compile`` and ``torch._dynamo.optimize`` where they would use inductor, their default
    backend, which writes C++ and runs a compiler that nothing in the sandbox may start (every
    compiled call failed: a notebook that compiled its q2 answer lost points, by an amount that
    varied from run to run):

    * a function or a method is returned as it is: what it computes is what the compiled one
      computes, and tracing it with TorchDynamo again for every new shape, integer or module
      instance the hidden tests pass cost a notebook that compiled five answers more CPU than its
      questions' budgets (round 16: 42.9-44.71 of 46, varying);
    * a module (``torch.compile(model)``) still gets TorchDynamo's wrapper with its "eager" backend,
      PyTorch's own kernels, so that the module is what the notebook holds in Jupyter (its
      ``_orig_mod``, the ``_orig_mod.`` in its state_dict's names);
    * other backends are left as asked (``flex_attention`` compiles with "eager" itself).

    Switching compilation off instead (``TORCH_COMPILE_DISABLE``) made ``fullgraph=True`` and
    ``flex_attention`` raise (round 15)."""
    import functools

    import torch
    import torch._dynamo

    if getattr(torch.compile, "without_a_compiler", False):
        return  # done already (a fork server started again in the same process)
    original, optimize = torch.compile, torch._dynamo.optimize

    @functools.wraps(original)
    def compile(model=None, *args, backend="inductor", **kwargs):  # noqa: A001 - torch's own name
        if backend != "inductor":
            return original(model, *args, backend=backend, **kwargs)
        if model is None:  # @torch.compile(...) with arguments
            return functools.partial(compile, *args, backend=backend, **kwargs)
        if isinstance(model, torch.nn.Module):
            kwargs.pop("mode", None)  # inductor's settings; the eager backend takes none
            kwargs.pop("options", None)
            return original(model, *args, backend="eager", **kwargs)
        return model

    @functools.wraps(optimize)
    def optimize_as_written(*args, **kwargs):  # torch._dynamo.optimize(backend="inductor", ...)
        backend = args[0] if args else kwargs.get("backend", "inductor")
        return _AsWritten() if backend == "inductor" else optimize(*args, **kwargs)

    compile.without_a_compiler = True
    torch.compile, torch._dynamo.optimize = compile, optimize_as_written


class _AsWritten:
    """What ``torch._dynamo.optimize("inductor")`` gives in the sandbox: a decorator that returns the
    function as it is, and a ``with`` block that changes nothing."""

    def __call__(self, fn):
        return fn

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


HOOKS = DiTHooks()

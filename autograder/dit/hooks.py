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
    """Make ``torch.compile`` (and ``nn.Module.compile``, which calls it) use TorchDynamo's "eager"
    backend where it would use inductor, its default: inductor writes C++ and runs a compiler, which
    nothing in the sandbox may start, so every compiled call failed (a notebook that compiled its
    q2 answer lost points, by an amount that varied from run to run). The eager backend captures the
    same graph (``fullgraph=True`` still holds, ``flex_attention`` works) and runs it with PyTorch's
    own kernels: what the plain code computes. Switching compilation off instead
    (``TORCH_COMPILE_DISABLE``) made ``fullgraph=True`` and ``flex_attention`` raise (attack round 15).
    Other backends are left as asked."""
    import functools

    import torch

    original = getattr(torch.compile, "__wrapped__", torch.compile)

    @functools.wraps(original)
    def compile(model=None, *args, backend="inductor", **kwargs):  # noqa: A001 - torch's own name
        if backend == "inductor":
            backend = "eager"
            kwargs.pop("mode", None)  # inductor's settings; the eager backend takes none
            kwargs.pop("options", None)
        return original(model, *args, backend=backend, **kwargs)

    torch.compile = compile


HOOKS = DiTHooks()

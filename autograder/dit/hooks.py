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

    def environment(self) -> dict[str, str]:
        """Nothing is ever downloaded: the Hugging Face libraries stay offline, in the grader too.
        ``torch.compile`` runs the code it is given as it is: no compiler may run in the sandbox, and
        a compiled function gives what the plain one gives (a notebook that compiled its q2 answer
        lost points that varied from run to run)."""
        return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "TORCH_COMPILE_DISABLE": "1"}


HOOKS = DiTHooks()

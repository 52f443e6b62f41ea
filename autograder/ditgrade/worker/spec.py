"""What a worker applies to itself: one typed record, made by the grader (``sandbox.limits``), sent
to the fork server as plain data (``to_plain``), and read back there and in the worker
(``from_plain``), which refuses a record with a missing, unknown or mistyped field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class WorkerSpec:
    uid: int  # the sandbox's uid (root graders drop to it)
    gpu: bool  # a GPU worker: the devices visible, RLIMIT_DATA instead of RLIMIT_AS
    memory_mb: int  # address space (RLIMIT_AS) the worker may add to what it has at fork
    gpu_memory_mb: int  # data segment (RLIMIT_DATA) a GPU worker may add
    cgroup_memory_mb: int  # memory of its control group, every process of the sandbox together
    cpu_s: int  # RLIMIT_CPU: the kernel's backstop on the worker's CPU seconds
    file_mb: int  # RLIMIT_FSIZE
    nproc: int  # RLIMIT_NPROC, and its control group's pids.max
    tmp_mb: int  # its private /tmp and /dev/shm
    tmp_inodes: int
    output_kb: int  # of its printed output the grader keeps
    hide: tuple[str, ...] = ()  # folders it must not see, wherever they are
    readable: tuple[str, ...] = ()  # extra folders it may read (model weights)
    env: dict[str, str] = field(default_factory=dict)  # its whole environment (HOME and TMPDIR aside)
    notes: tuple[str, ...] = ()  # what its middle process could not do (a control group), for the report

    def to_plain(self) -> dict:
        return {**asdict(self), "hide": list(self.hide), "readable": list(self.readable), "notes": list(self.notes)}

    @classmethod
    def from_plain(cls, raw: object) -> WorkerSpec:
        if not isinstance(raw, dict):
            raise ValueError("a worker spec is a record")
        names = {f.name for f in fields(cls)}
        if set(raw) - names or {f.name for f in fields(cls) if f.name not in ("hide", "readable", "env", "notes")} - set(raw):
            raise ValueError(f"a worker spec has the fields {sorted(names)}, not {sorted(raw)}")
        values = dict(raw)
        for key in ("hide", "readable", "notes"):
            values[key] = tuple(str(x) for x in values.get(key, ()))
        values["env"] = {str(k): str(v) for k, v in dict(values.get("env", {})).items()}
        for f in fields(cls):
            if f.type in ("int", "bool") and type(values[f.name]).__name__ != f.type:
                raise ValueError(f"worker spec field {f.name} must be {f.type}")
        return cls(**values)

    def with_note(self, note: str) -> WorkerSpec:
        return WorkerSpec(**{**asdict(self), "notes": (*self.notes, note)})

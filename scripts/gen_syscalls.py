"""Print the NUMBERS table of autograder/ditgrade/worker/syscalls.py from the kernel headers.

    python3 scripts/gen_syscalls.py > /tmp/numbers.txt   # then paste it over NUMBERS

Reads the x86-64 table (asm/unistd_64.h) and the generic one arm64 uses (asm-generic/unistd.h,
where ``__NR3264_fstatat`` is newfstatat), for every name the allowlist and its rules use.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograder"))

from ditgrade.worker import syscalls  # noqa: E402

HEADERS = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "aarch64": "/usr/include/asm-generic/unistd.h"}


def table(path: str) -> dict[str, int]:
    out = {}
    for m in re.finditer(r"#define __NR(3264)?_(\w+) (\d+)", Path(path).read_text()):
        out[{"fstatat": "newfstatat"}.get(m[2], m[2]) if m[1] else m[2]] = int(m[3])
    return out


def main() -> None:
    names = sorted(syscalls.ALLOWED | set(syscalls.CHANNEL_FD_ARGS) | {"clone3", "execve", "execveat", "socket",
                                                                       "socketpair"})
    for arch, header in HEADERS.items():
        numbers = table(header)
        print(f'    "{arch}": {{')
        items = [f'"{n}": {numbers[n]},' for n in names if n in numbers]
        line = "       "
        for item in items:
            if len(line) + len(item) + 1 > 108:
                print(line)
                line = "       "
            line += " " + item
        print(line)
        print("    },")


if __name__ == "__main__":
    main()

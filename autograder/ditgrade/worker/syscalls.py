"""The system calls a sandboxed worker may make: an allowlist, not a list of what is refused.

Like Docker's default seccomp profile and nsjail's policies, everything not named here fails with
EPERM. The list is what CPython, numpy, torch and the libraries an assignment preloads need to compute, read files, start
threads and fork (and CUDA under ``--gpu``), and no more. Left out on purpose, among others:
``execve``/``execveat`` (nothing in a sandbox ever runs another program, so no process there can
become dumpable again and dump core, whatever ``core_pattern`` is), ``socket``/``socketpair`` (a
socket could carry the channel to the grader to another descriptor), kernel keys (``add_key``,
``keyctl``: state that outlives the sandbox), namespaces (``unshare``, ``setns``, ``clone`` with a
namespace flag), ``ptrace``, ``process_vm_*``, ``pidfd_getfd``, ``io_uring_*``, ``bpf``,
``perf_event_open``, ``userfaultfd``, ``memfd_create`` (memory no address-space limit counts),
mounts, identity changes (``setuid`` and kin), POSIX message queues and SysV messages, and
``setpriority`` (``os.nice``: a thread that lowers its own priority on a busy machine waits for a
CPU without computing and without being idle, so it would stretch a call's wall time uncharged;
nothing a worker runs needs it, and ``sched_setscheduler``/``sched_setattr`` were never allowed), and
``setsid`` (the kernel's autogroup gives each session its own CPU share: 55 processes in sessions
of their own took a batch neighbour's CPU, independent attack round 8; nothing can run a daemon
without ``execve`` anyway), ``setpgid`` (a process group of its own would leave the worker's, and nothing
a worker runs needs one) and ``sched_setaffinity`` (where a worker's threads run is the kernel's and
the control group's business; OpenMP only pins threads when ``OMP_PROC_BIND`` or
``GOMP_CPU_AFFINITY`` is set, which the worker's allow-listed environment never is).

``NUMBERS`` is generated from the kernel headers by ``scripts/gen_syscalls.py`` (x86-64 and arm64;
arm64 has no legacy calls such as ``open`` or ``fork``).
"""

from __future__ import annotations

ALLOWED = frozenset("""
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek
open openat openat2 creat close close_range
stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
readlink readlinkat getdents getdents64 getcwd chdir fchdir
mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink symlinkat
chmod fchmod fchmodat truncate ftruncate fallocate fsync fdatasync sync_file_range
utime utimes utimensat futimesat umask flock fcntl dup dup2 dup3 pipe pipe2 ioctl
poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
fadvise64 readahead sendfile splice tee copy_file_range
getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
eventfd eventfd2 signalfd signalfd4 timerfd_create timerfd_settime timerfd_gettime
mmap munmap mprotect mremap madvise brk mincore msync mlock mlock2 munlock mlockall munlockall
pkey_alloc pkey_free pkey_mprotect get_mempolicy set_mempolicy mbind membarrier
clone fork vfork wait4 waitid exit exit_group set_tid_address set_robust_list get_robust_list
futex futex_waitv rseq restart_syscall arch_prctl
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending rt_sigtimedwait rt_sigqueueinfo
rt_tgsigqueueinfo sigaltstack kill tgkill tkill pause alarm nanosleep clock_nanosleep
clock_gettime clock_getres gettimeofday time getitimer setitimer
timer_create timer_settime timer_gettime timer_getoverrun timer_delete
getpid getppid gettid getuid geteuid getgid getegid getresuid getresgid getgroups
getpgid getpgrp getsid capget
getrlimit setrlimit prlimit64 getrusage times getpriority ioprio_get
sched_yield sched_getaffinity sched_getparam sched_getscheduler sched_getattr
sched_get_priority_max sched_get_priority_min sched_rr_get_interval getcpu
uname sysinfo getrandom
shmget shmat shmdt shmctl semget semop semtimedop semctl
sendmsg recvmsg
prctl personality seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self
""".split())

# syscall -> positions of its arguments that are file descriptors: refused when one is the channel
CHANNEL_FD_ARGS: dict[str, tuple[int, ...]] = {
    "read": (0,), "write": (0,), "readv": (0,), "writev": (0,), "pread64": (0,), "pwrite64": (0,),
    "preadv": (0,), "pwritev": (0,), "preadv2": (0,), "pwritev2": (0,), "lseek": (0,),
    "sendfile": (0, 1), "splice": (0, 2), "tee": (0, 1), "copy_file_range": (0, 2),
    "fcntl": (0,), "ioctl": (0,), "dup": (0,), "dup2": (0, 1), "dup3": (0, 1), "close": (0,),
    "epoll_ctl": (2,), "fstat": (0,), "fsync": (0,), "fdatasync": (0,), "ftruncate": (0,),
    "fadvise64": (0,), "flock": (0,), "fchdir": (0,),
}

# Only these prctl options (PR_*): the process's own name, death signal, seccomp and no_new_privs,
# timer slack, transparent huge pages, naming anonymous memory (PR_SET_VMA). Not PR_SET_DUMPABLE.
PRCTL_OPTIONS = (1, 2, 3, 15, 16, 21, 22, 23, 29, 30, 36, 37, 38, 39, 40, 41, 42, 0x53564D41)
# personality(): only asking, and the flags a normal process has (as Docker allows)
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# clone() flags that would make new namespaces (CLONE_NEWNS ... CLONE_NEWNET, CLONE_NEWCGROUP)
CLONE_NAMESPACE_FLAGS = 0x7E020000
# ioctl() commands that push characters into a terminal's input
TTY_INJECTION = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX

NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "access": 21, "alarm": 37, "arch_prctl": 158, "brk": 12, "capget": 125, "chdir": 80, "chmod": 90,
        "clock_getres": 229, "clock_gettime": 228, "clock_nanosleep": 230, "clone": 56, "clone3": 435,
        "close": 3, "close_range": 436, "copy_file_range": 326, "creat": 85, "dup": 32, "dup2": 33,
        "dup3": 292, "epoll_create": 213, "epoll_create1": 291, "epoll_ctl": 233, "epoll_pwait": 281,
        "epoll_pwait2": 441, "epoll_wait": 232, "eventfd": 284, "eventfd2": 290, "execve": 59,
        "execveat": 322, "exit": 60, "exit_group": 231, "faccessat": 269, "faccessat2": 439,
        "fadvise64": 221, "fallocate": 285, "fchdir": 81, "fchmod": 91, "fchmodat": 268, "fcntl": 72,
        "fdatasync": 75, "fgetxattr": 193, "flistxattr": 196, "flock": 73, "fork": 57, "fstat": 5,
        "fstatfs": 138, "fsync": 74, "ftruncate": 77, "futex": 202, "futex_waitv": 449, "futimesat": 261,
        "get_mempolicy": 239, "get_robust_list": 274, "getcpu": 309, "getcwd": 79, "getdents": 78,
        "getdents64": 217, "getegid": 108, "geteuid": 107, "getgid": 104, "getgroups": 115, "getitimer": 36,
        "getpgid": 121, "getpgrp": 111, "getpid": 39, "getppid": 110, "getpriority": 140, "getrandom": 318,
        "getresgid": 120, "getresuid": 118, "getrlimit": 97, "getrusage": 98, "getsid": 124, "gettid": 186,
        "gettimeofday": 96, "getuid": 102, "getxattr": 191, "inotify_add_watch": 254, "inotify_init": 253,
        "inotify_init1": 294, "inotify_rm_watch": 255, "ioctl": 16, "ioprio_get": 252, "kill": 62,
        "landlock_add_rule": 445, "landlock_create_ruleset": 444, "landlock_restrict_self": 446,
        "lgetxattr": 192, "link": 86, "linkat": 265, "listxattr": 194, "llistxattr": 195, "lseek": 8,
        "lstat": 6, "madvise": 28, "mbind": 237, "membarrier": 324, "mincore": 27, "mkdir": 83,
        "mkdirat": 258, "mlock": 149, "mlock2": 325, "mlockall": 151, "mmap": 9, "mprotect": 10,
        "mremap": 25, "msync": 26, "munlock": 150, "munlockall": 152, "munmap": 11, "nanosleep": 35,
        "newfstatat": 262, "open": 2, "openat": 257, "openat2": 437, "pause": 34, "personality": 135,
        "pipe": 22, "pipe2": 293, "pkey_alloc": 330, "pkey_free": 331, "pkey_mprotect": 329, "poll": 7,
        "ppoll": 271, "prctl": 157, "pread64": 17, "preadv": 295, "preadv2": 327, "prlimit64": 302,
        "pselect6": 270, "pwrite64": 18, "pwritev": 296, "pwritev2": 328, "read": 0, "readahead": 187,
        "readlink": 89, "readlinkat": 267, "readv": 19, "recvmsg": 47, "rename": 82, "renameat": 264,
        "renameat2": 316, "restart_syscall": 219, "rmdir": 84, "rseq": 334, "rt_sigaction": 13,
        "rt_sigpending": 127, "rt_sigprocmask": 14, "rt_sigqueueinfo": 129, "rt_sigreturn": 15,
        "rt_sigsuspend": 130, "rt_sigtimedwait": 128, "rt_tgsigqueueinfo": 297,
        "sched_get_priority_max": 146, "sched_get_priority_min": 147, "sched_getaffinity": 204,
        "sched_getattr": 315, "sched_getparam": 143, "sched_getscheduler": 145,
        "sched_rr_get_interval": 148, "sched_setaffinity": 203, "sched_yield": 24, "seccomp": 317,
        "select": 23, "semctl": 66, "semget": 64, "semop": 65, "semtimedop": 220, "sendfile": 40,
        "sendmsg": 46, "set_mempolicy": 238, "set_robust_list": 273, "set_tid_address": 218,
        "setitimer": 38, "setpgid": 109, "setpriority": 141, "setrlimit": 160, "setsid": 112, "shmat": 30,
        "shmctl": 31, "shmdt": 67, "shmget": 29, "sigaltstack": 131, "signalfd": 282, "signalfd4": 289,
        "socket": 41, "socketpair": 53, "splice": 275, "stat": 4, "statfs": 137, "statx": 332,
        "symlink": 88, "symlinkat": 266, "sync_file_range": 277, "sysinfo": 99, "tee": 276, "tgkill": 234,
        "time": 201, "timer_create": 222, "timer_delete": 226, "timer_getoverrun": 225,
        "timer_gettime": 224, "timer_settime": 223, "timerfd_create": 283, "timerfd_gettime": 287,
        "timerfd_settime": 286, "times": 100, "tkill": 200, "truncate": 76, "umask": 95, "uname": 63,
        "unlink": 87, "unlinkat": 263, "utime": 132, "utimensat": 280, "utimes": 235, "vfork": 58,
        "wait4": 61, "waitid": 247, "write": 1, "writev": 20,
    },
    "aarch64": {
        "brk": 214, "capget": 90, "chdir": 49, "clock_getres": 114, "clock_gettime": 113,
        "clock_nanosleep": 115, "clone": 220, "clone3": 435, "close": 57, "close_range": 436,
        "copy_file_range": 285, "dup": 23, "dup3": 24, "epoll_create1": 20, "epoll_ctl": 21,
        "epoll_pwait": 22, "epoll_pwait2": 441, "eventfd2": 19, "execve": 221, "execveat": 281, "exit": 93,
        "exit_group": 94, "faccessat": 48, "faccessat2": 439, "fadvise64": 223, "fallocate": 47,
        "fchdir": 50, "fchmod": 52, "fchmodat": 53, "fcntl": 25, "fdatasync": 83, "fgetxattr": 10,
        "flistxattr": 13, "flock": 32, "fstat": 80, "fstatfs": 44, "fsync": 82, "ftruncate": 46,
        "futex": 98, "futex_waitv": 449, "get_mempolicy": 236, "get_robust_list": 100, "getcpu": 168,
        "getcwd": 17, "getdents64": 61, "getegid": 177, "geteuid": 175, "getgid": 176, "getgroups": 158,
        "getitimer": 102, "getpgid": 155, "getpid": 172, "getppid": 173, "getpriority": 141,
        "getrandom": 278, "getresgid": 150, "getresuid": 148, "getrlimit": 163, "getrusage": 165,
        "getsid": 156, "gettid": 178, "gettimeofday": 169, "getuid": 174, "getxattr": 8,
        "inotify_add_watch": 27, "inotify_init1": 26, "inotify_rm_watch": 28, "ioctl": 29, "ioprio_get": 31,
        "kill": 129, "landlock_add_rule": 445, "landlock_create_ruleset": 444,
        "landlock_restrict_self": 446, "lgetxattr": 9, "linkat": 37, "listxattr": 11, "llistxattr": 12,
        "lseek": 62, "madvise": 233, "mbind": 235, "membarrier": 283, "mincore": 232, "mkdirat": 34,
        "mlock": 228, "mlock2": 284, "mlockall": 230, "mmap": 222, "mprotect": 226, "mremap": 216,
        "msync": 227, "munlock": 229, "munlockall": 231, "munmap": 215, "nanosleep": 101, "newfstatat": 79,
        "openat": 56, "openat2": 437, "personality": 92, "pipe2": 59, "pkey_alloc": 289, "pkey_free": 290,
        "pkey_mprotect": 288, "ppoll": 73, "prctl": 167, "pread64": 67, "preadv": 69, "preadv2": 286,
        "prlimit64": 261, "pselect6": 72, "pwrite64": 68, "pwritev": 70, "pwritev2": 287, "read": 63,
        "readahead": 213, "readlinkat": 78, "readv": 65, "recvmsg": 212, "renameat": 38, "renameat2": 276,
        "restart_syscall": 128, "rseq": 293, "rt_sigaction": 134, "rt_sigpending": 136,
        "rt_sigprocmask": 135, "rt_sigqueueinfo": 138, "rt_sigreturn": 139, "rt_sigsuspend": 133,
        "rt_sigtimedwait": 137, "rt_tgsigqueueinfo": 240, "sched_get_priority_max": 125,
        "sched_get_priority_min": 126, "sched_getaffinity": 123, "sched_getattr": 275,
        "sched_getparam": 121, "sched_getscheduler": 120, "sched_rr_get_interval": 127,
        "sched_setaffinity": 122, "sched_yield": 124, "seccomp": 277, "semctl": 191, "semget": 190,
        "semop": 193, "semtimedop": 192, "sendfile": 71, "sendmsg": 211, "set_mempolicy": 237,
        "set_robust_list": 99, "set_tid_address": 96, "setitimer": 103, "setpgid": 154, "setpriority": 140,
        "setrlimit": 164, "setsid": 157, "shmat": 196, "shmctl": 195, "shmdt": 197, "shmget": 194,
        "sigaltstack": 132, "signalfd4": 74, "socket": 198, "socketpair": 199, "splice": 76, "statfs": 43,
        "statx": 291, "symlinkat": 36, "sync_file_range": 84, "sysinfo": 179, "tee": 77, "tgkill": 131,
        "timer_create": 107, "timer_delete": 111, "timer_getoverrun": 109, "timer_gettime": 108,
        "timer_settime": 110, "timerfd_create": 85, "timerfd_gettime": 87, "timerfd_settime": 86,
        "times": 153, "tkill": 130, "truncate": 45, "umask": 166, "uname": 160, "unlinkat": 35,
        "utimensat": 88, "wait4": 260, "waitid": 95, "write": 64, "writev": 66,
    },
}

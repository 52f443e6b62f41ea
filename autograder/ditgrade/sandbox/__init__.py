"""Running untrusted student code: the fork server that starts sandboxed workers, and the grader's
runner that talks to them. The worker's own side is ``ditgrade.worker``."""

from .forkserver_client import close_all, fork_server
from .limits import Limits
from .runner import SandboxError, SandboxRunner

__all__ = ["Limits", "SandboxError", "SandboxRunner", "close_all", "fork_server"]

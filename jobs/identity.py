"""Who this process is, as runs and log lines name it."""

import os
import socket


def worker_identity() -> str:
    """``host:pid`` of this process: stored on the runs it executes, logged by its dispatcher."""
    return f"{socket.gethostname()}:{os.getpid()}"

"""Real ``manage.py qcluster`` processes for end-to-end tests, on the test database and a private queue."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

# The qcluster command, with the end-to-end jobs registered before it starts.
BOOT = (
    "import sys, django; django.setup(); import tests.e2e.worker_jobs; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'qcluster', *sys.argv[1:]])"
)
REDIS_URL = "redis://127.0.0.1:6379/0"


class Workers:
    """Starts and stops qcluster processes that share one queue name and the test database."""

    def __init__(self, log_dir: Path, **settings_env: str) -> None:
        self.log_dir = log_dir
        self.queue = f"e2e-{uuid.uuid4().hex[:8]}"
        database = connection.settings_dict
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("JOBS_", "Q_"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
            "DATA_DIR": str(log_dir),
            "REDIS_URL": REDIS_URL,
            "Q_CLUSTER_NAME": self.queue,
            "Q_WORKERS": "4",
            "JOBS_HEARTBEAT_SECONDS": "1",
            "JOBS_LOST_AFTER_SECONDS": "3",
            "LOG_LEVEL": "INFO",
            **settings_env,
        }
        self.processes: list[subprocess.Popen] = []

    def start(self, count: int = 1, *, args: tuple[str, ...] = ()) -> list[subprocess.Popen]:
        """Start ``count`` qclusters, each with ``args`` (e.g. ``("--queue", "backups")``)."""
        started = []
        for _ in range(count):
            log = (self.log_dir / f"qcluster-{len(self.processes)}.log").open("w")
            process = subprocess.Popen(
                [sys.executable, "-c", BOOT, *args],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes.append(process)
            started.append(process)
        return started

    def terminate(self, process: subprocess.Popen, timeout: float = 60) -> int:
        """SIGTERM to the cluster's main process only (as a process manager sends it); wait for the exit."""
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.log_dir.glob("qcluster-*.log")))


def wait_for(condition: Callable[[], object], *, timeout: float, message: str) -> object:
    """Poll ``condition`` (a real process is doing the work) until it is truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout} s waiting until {message}")

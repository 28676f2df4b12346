"""Real worker processes for the benchmarks: our qcluster (dispatcher inside) and a stock django-q2 one.

Each process is started in a session of its own with its output in DATA_DIR, from the environment the
case runs in (settings come from the environment at start-up), and stopped with SIGTERM (SIGKILL after a
minute).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent

OUR_CLUSTER = (
    "import sys; sys.path.insert(0, {bench!r}); import django; django.setup(); import dispatch_latency_jobs; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'qcluster'{extra}])"
)
# django-q2's own command (not our override) with its scheduler switched on, as a stock install runs it.
STOCK_CLUSTER = (
    "import sys; sys.path.insert(0, {bench!r}); from django.conf import settings; "
    "settings.Q_CLUSTER['scheduler'] = True; import django; django.setup(); import dispatch_latency_jobs; "
    "from django_q.management.commands.qcluster import Command; "
    "Command().run_from_argv(['manage.py', 'qcluster'])"
)


def _start(code: str, log_name: str, env: dict | None = None) -> subprocess.Popen:
    from django.conf import settings

    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=(Path(settings.DATA_DIR) / log_name).open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


# Our qcluster taking tasks from the ORM broker the way django-q2's own broker does (read, then lock each).
OUR_CLUSTER_STOCK_ORM_DEQUEUE = OUR_CLUSTER.replace(
    "import django;",
    "from django.conf import settings; settings.Q_CLUSTER.pop('broker_class', None); "
    "settings.Q_CLUSTER.pop('bulk', None); import django;",
    1,
)


def start_clusters(
    count: int, *, dispatcher: bool = True, stock_orm_dequeue: bool = False
) -> list[subprocess.Popen]:
    """``count`` of our qclusters (workers and, unless told otherwise, the dispatcher); with
    ``stock_orm_dequeue``, taking tasks from the ORM broker with django-q2's own ``dequeue``."""
    extra = "" if dispatcher else ", '--no-dispatcher'"
    template = OUR_CLUSTER_STOCK_ORM_DEQUEUE if stock_orm_dequeue else OUR_CLUSTER
    code = template.format(bench=str(BENCH_DIR), extra=extra)
    return [_start(code, f"qcluster-{number}.log") for number in range(count)]


def start_stock_cluster(name: str) -> subprocess.Popen:
    """A stock django-q2 qcluster named ``name`` (its own queue) with django-q2's scheduler on."""
    env = {**os.environ, "Q_CLUSTER_NAME": name}
    return _start(STOCK_CLUSTER.format(bench=str(BENCH_DIR)), "stock-qcluster.log", env)


def stop_clusters(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_lines(log: Path, count: int, *, timeout: float) -> list[str]:
    """The log's lines once it has ``count`` of them (or whatever it has after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def wait_until_idle(timeout: float = 60) -> None:
    """Until no run is scheduled, queued or running (or ``timeout`` seconds)."""
    from jobs.models import JobRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not JobRun.objects.filter(status__in=["scheduled", "queued", "running"]).exists():
            return
        time.sleep(0.5)

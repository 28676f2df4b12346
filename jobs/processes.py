"""This process's ``EngineProcess`` row, and whether another engine process (or worker) is still there.

A qcluster registers its row before django-q2 forks the sentinel and the workers, so they inherit its id
(``current_process_id``) and every run records the process it ran in. The main process beats the row from
one thread; the reaper asks ``gone_reason`` about each running run to notice a dead worker in seconds.
"""

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from django.conf import settings

from jobs.beats import PeriodicBeat
from jobs.models import EngineProcess, JobRun

logger = logging.getLogger(__name__)

_current: EngineProcess | None = None


def this_host() -> str:
    return socket.gethostname()


def register(*, runs_dispatcher: bool, workers: int, queues: list[str], now: datetime) -> EngineProcess:
    """Insert this process's row and remember it (forked children inherit it)."""
    global _current
    _current = EngineProcess.objects.create(
        host=this_host()[:255],
        pid=os.getpid(),
        started_at=now,
        last_beat_at=now,
        version=settings.APP_VERSION[:100],
        runs_dispatcher=runs_dispatcher,
        workers=workers,
        queues=queues,
    )
    logger.info(
        "event=engine_process_registered id=%s pid=%s dispatcher=%s workers=%s",
        _current.pk,
        _current.pid,
        runs_dispatcher,
        workers,
    )
    return _current


def current_process_id() -> int | None:
    """The EngineProcess id of the qcluster this process belongs to (None outside a qcluster)."""
    return _current.pk if _current is not None else None


def beating(process: EngineProcess, clock: Callable[[], datetime]) -> PeriodicBeat:
    """The thread that keeps ``process`` alive in the table while the block runs."""
    return PeriodicBeat(
        lambda: process.beat(now=clock()),
        every=settings.JOBS_HEARTBEAT_SECONDS,
        name=f"engine-process-{process.pk}",
        on_refused=lambda: logger.error("event=engine_process_row_stopped id=%s", process.pk),
    )


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie (killed, not yet reaped)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return _signal_zero(pid)
    return state not in ("Z", "X")


def _signal_zero(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_pid(worker: str, host: str) -> int | None:
    """The pid in a run's ``worker`` ("host:pid") when it names a process on ``host``."""
    worker_host, _, pid = worker.rpartition(":")
    if worker_host != host or not pid.isdigit():
        return None
    return int(pid)


def gone_reason(run: JobRun, *, now: datetime, host: str) -> str:
    """Why the process executing ``run`` is known to be gone ("" while it may be alive).

    Seen from the same host a pid answers at once; from elsewhere the process's beats decide. A late beat
    from a process whose pid is alive here never counts against it.
    """
    process = run.engine_process
    if process is not None:
        where = f"{process.host}:{process.pid}"
        local = process.host == host
        if local and not pid_alive(process.pid):
            return f"Lost: its qcluster process {where} is gone (killed?)."
        if process.stopped_at is not None:
            return f"Lost: its qcluster {where} stopped at {process.stopped_at:%Y-%m-%d %H:%M:%S} UTC."
        if not local and not process.is_alive(now):
            return (
                f"Lost: its qcluster {where} stopped heartbeating at "
                f"{process.last_beat_at:%Y-%m-%d %H:%M:%S} UTC."
            )
    pid = worker_pid(run.worker, host)
    if pid is not None and not pid_alive(pid):
        return f"Lost: its worker process {run.worker} is gone (killed?)."
    return ""

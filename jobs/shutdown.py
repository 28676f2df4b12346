"""Stopping a qcluster without losing track of its runs: a grace period, then cancellation.

On SIGTERM the qcluster's main process stops its dispatcher, then ``stop_cluster``: django-q2's sentinel
stops taking tasks, running jobs get JOBS_SHUTDOWN_GRACE_SECONDS to finish, and whatever still runs then
is cancelled (recorded ``cancelled``, not ``lost``). The main process and its forked workers share one
small value, created by ``prepare()`` before the fork:

- ``RUNNING``: normal work;
- ``DRAINING``: a worker starts no new run; a run it receives is handed back to the broker at once, for
  another qcluster (or this one after its restart);
- ``CANCELLING``: each worker's watcher cancels its running job (cooperatively first, forcibly one
  heartbeat later).

A job that is still running a few seconds after that is recorded ``cancelled`` by the main process, and
its worker process is killed, so the cluster can exit.
"""

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from jobs.models import EngineProcess, JobRun
from jobs.outcomes import record_cancelled
from jobs.processes import this_host, worker_pid

logger = logging.getLogger(__name__)

RUNNING, DRAINING, CANCELLING = 0, 1, 2
POLL_SECONDS = 0.2
# After the cancellation: one heartbeat for the watcher's forced interruption, then this much for cleanup.
CANCEL_CLEANUP_SECONDS = 5.0

_state = None


def prepare() -> None:
    """Create the shared state; call in the qcluster's main process before django-q2 forks."""
    global _state
    _state = multiprocessing.get_context("fork").Value("b", RUNNING, lock=False)


def state() -> int:
    return RUNNING if _state is None else _state.value


def draining() -> bool:
    """True once this qcluster is stopping: no new run may start in it."""
    return state() >= DRAINING


def cancelling() -> bool:
    """True once the grace period is over: running jobs of this qcluster are to be cancelled."""
    return state() >= CANCELLING


def grace_reason() -> str:
    return (
        f"Cancelled: the qcluster shut down and the run did not finish within the grace period of "
        f"{settings.JOBS_SHUTDOWN_GRACE_SECONDS} s (JOBS_SHUTDOWN_GRACE_SECONDS)."
    )


def stop_cluster(
    cluster,
    *,
    process: EngineProcess,
    grace: float,
    clock: Callable[[], datetime] = timezone.now,
) -> None:
    """Stop django-q2's ``cluster`` (already started in this process) after its runs finished or were
    cancelled; returns when its sentinel and workers have exited."""
    set_state(DRAINING)
    cluster.stop_event.set()  # the sentinel stops its pusher and lets each worker finish its task
    running = _wait(process, cluster, seconds=grace)
    if running:
        logger.warning("event=shutdown_grace_over runs=%s action=cancel", ",".join(map(str, running)))
        set_state(CANCELLING)
        running = _wait(process, cluster, seconds=settings.JOBS_HEARTBEAT_SECONDS + CANCEL_CLEANUP_SECONDS)
        _end_stuck(running, now=clock())
    cluster.stop()
    logger.info("event=shutdown_done process=%s", process.pk)


def set_state(value: int) -> None:
    """Move this qcluster (and its workers, which share the value) to RUNNING, DRAINING or CANCELLING."""
    if _state is not None:
        _state.value = value


def _running_runs(process: EngineProcess) -> list[int]:
    return list(
        JobRun.objects.filter(engine_process=process, status=JobRun.Status.RUNNING).values_list(
            "pk", flat=True
        )
    )


def _wait(process: EngineProcess, cluster, *, seconds: float) -> list[int]:
    """Wait until no run of ``process`` is running (or the sentinel exited, or ``seconds`` passed)."""
    deadline = time.monotonic() + seconds
    while True:
        running = _running_runs(process)
        if not running or not cluster.sentinel.is_alive() or time.monotonic() >= deadline:
            return running
        time.sleep(POLL_SECONDS)  # real worker processes are finishing; this loop only watches them


def _end_stuck(run_ids: list[int], *, now: datetime) -> None:
    host = this_host()
    for run in JobRun.objects.filter(pk__in=run_ids, status=JobRun.Status.RUNNING).select_related("schedule"):
        reason = (
            f"{grace_reason()} The job ignored the cancellation, so its worker process {run.worker} was "
            "killed."
        )
        if record_cancelled(run, now=now, reason=reason):
            pid = worker_pid(run.worker, host)
            if pid is not None:
                logger.error("event=stuck_worker_killed run=%s worker=%s", run.pk, run.worker)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

"""The runner: what a django-q2 worker executes for one run.

``execute(run_id)`` flips the run ``queued → running`` with a conditional UPDATE (a task delivered twice
finds nothing to flip and stops), runs the job with a heartbeat thread beside it and a deadline over it,
and records the outcome; failures lead to the job's ``on_exception`` hook and the retry policy.
"""

import ctypes
import json
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from jobs.identity import worker_identity
from jobs.models import JobRun
from jobs.outcomes import finish_run
from jobs.registry import JobContext, JobDefinition, UnknownJobError
from jobs.retries import find_job, policy_for

logger = logging.getLogger(__name__)


class RunTimedOut(BaseException):
    """Raised inside a job that passed its timeout.

    A BaseException, so that a job's own ``except Exception`` cannot swallow it.
    """


def execute(run_id: int) -> str:
    """django-q2 task entry point: run the JobRun ``run_id`` if it is still queued; returns its final status.

    Connections are closed before and after, so a run never inherits (or leaves) a broken connection.
    """
    close_old_connections()
    try:
        return run_queued(run_id, worker=worker_identity())
    finally:
        close_old_connections()


def run_queued(run_id: int, *, worker: str, clock: Callable[[], datetime] = timezone.now) -> str:
    """Flip the run queued → running and run it to its end; returns the final status ("" if not queued)."""
    started = clock()
    claimed = JobRun.objects.filter(pk=run_id, status=JobRun.Status.QUEUED).update(
        status=JobRun.Status.RUNNING, started_at=started, heartbeat_at=started, worker=worker[:200]
    )
    if not claimed:
        logger.info("event=run_not_queued run=%s action=ignore_delivery", run_id)
        return ""
    run = JobRun.objects.select_related("schedule").get(pk=run_id)
    definition = find_job(run.job_name)
    if definition is None:
        finish_run(run, status=JobRun.Status.FAILED, now=clock(), error=str(UnknownJobError(run.job_name)))
        return run.status
    logger.info(
        "event=run_started run=%s job=%s owner=%s attempt=%s", run.pk, run.job_name, run.owner_id, run.attempt
    )
    status = _run_job(run, definition, clock)
    logger.info("event=run_finished run=%s job=%s status=%s", run.pk, run.job_name, status)
    return status


def _run_job(run: JobRun, definition: JobDefinition, clock: Callable[[], datetime]) -> str:
    heartbeat = Heartbeat(run.pk, every=settings.JOBS_HEARTBEAT_SECONDS, clock=clock)
    context = JobContext(
        run_id=run.pk,
        job_name=run.job_name,
        owner_id=run.owner_id,
        schedule_id=run.schedule_id,
        slot=run.slot,
        attempt=run.attempt,
        logger=logging.getLogger(f"jobs.run.{run.job_name}"),
        heartbeat=heartbeat.beat,
    )
    timeout = policy_for(run.schedule, run.job_name).timeout_seconds
    try:
        with heartbeat, deadline(timeout):
            result = definition.func(context, **run.kwargs)
    except RunTimedOut as timed_out:
        finish_run(run, status=JobRun.Status.TIMED_OUT, now=clock(), error=str(timed_out), traceback=_trace())
        return run.status
    except Exception as error:
        trace = _trace()
        _call_exception_hook(definition, context, error)
        finish_run(run, status=JobRun.Status.FAILED, now=clock(), error=_one_line(error), traceback=trace)
        return run.status
    finish_run(run, status=JobRun.Status.SUCCEEDED, now=clock(), result=_storable(result))
    return run.status


def _call_exception_hook(definition: JobDefinition, context: JobContext, error: Exception) -> None:
    if definition.on_exception is None:
        return
    try:
        definition.on_exception(context, error)
    except Exception:
        # The hook's own failure must not hide the job's; it goes to the log beside it.
        logger.exception("event=on_exception_hook_failed run=%s job=%s", context.run_id, context.job_name)


class Heartbeat:
    """Stamps ``heartbeat_at`` every ``every`` seconds from a thread while the job runs.

    The reaper takes a run whose stamps stopped (the worker was killed) as lost.
    """

    def __init__(self, run_id: int, *, every: float, clock: Callable[[], datetime] = timezone.now) -> None:
        self.run_id = run_id
        self.every = every
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        JobRun.objects.filter(pk=self.run_id, status=JobRun.Status.RUNNING).update(heartbeat_at=self.clock())

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    self.beat()
                except DatabaseError:
                    logger.warning("event=heartbeat_failed run=%s action=retry", self.run_id)
                    connection.close()
        finally:
            # This thread's own connection, not the job's.
            connection.close()


@contextmanager
def deadline(seconds: int | None) -> Iterator[None]:
    """Raise ``RunTimedOut`` inside the block once it has run ``seconds``.

    In a worker's main thread a SIGALRM timer interrupts even a blocking call; django-q2's own alarm (the
    hard limit) is put back afterwards. Elsewhere (a thread) the exception is set asynchronously, which
    takes effect at the job's next Python instruction.
    """
    if not seconds:
        yield
        return
    if threading.current_thread() is threading.main_thread():
        with _alarm(seconds):
            yield
    else:
        with _async_exception_after(seconds):
            yield


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise RunTimedOut(f"Timed out: the run exceeded its timeout of {seconds} s.")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            remaining = max(previous_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_interval)


@contextmanager
def _async_exception_after(seconds: int) -> Iterator[None]:
    target = threading.get_ident()

    def interrupt() -> None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(RunTimedOut))

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _storable(result: Any) -> Any:
    """The job's summary as JSON; something that is not JSON-able is kept as its (shortened) repr."""
    try:
        return json.loads(json.dumps(result, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return {"repr": repr(result)[:2000]}


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _trace() -> str:
    return traceback.format_exc()[-20000:]

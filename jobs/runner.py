"""The runner: what a django-q2 worker executes for one run.

``execute(run_id)`` flips the run ``queued → running`` with a conditional UPDATE (a task delivered twice
finds nothing to flip and stops), runs the job under the worker's watch (heartbeat and cancellation, see
``jobs.watch``) and a soft deadline (``jobs.timeouts``), and records how it ended: succeeded, failed,
timed out, skipped (``RunSkipped``) or cancelled (``RunCancelled``). Failures lead to the job's
``on_exception`` hook and the retry policy. A worker of a stopping qcluster hands the run back instead.
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
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from jobs import outcomes, shutdown
from jobs.context import Cancellation, JobContext, RunCancelled, RunSkipped, RunTimedOut
from jobs.identity import worker_identity
from jobs.models import JobRun
from jobs.processes import current_process_id
from jobs.reaper import hand_back
from jobs.registry import JobDefinition, UnknownJobError
from jobs.retries import find_job, policy_for
from jobs.timeouts import soft_timeout_seconds
from jobs.watch import watch

logger = logging.getLogger(__name__)

__all__ = ["RunTimedOut", "deadline", "execute", "run_queued"]


def execute(run_id: int) -> str:
    """django-q2 task entry point: run the JobRun ``run_id`` if it is still queued; returns its final status.

    django-q2's worker closes obsolete and broken connections before each task; this closes them after it
    too, so a worker idle after a run keeps no connection beyond CONN_MAX_AGE. A connection broken in
    between is found by the run's first statement (``_flip``).
    """
    try:
        return run_queued(run_id, worker=worker_identity())
    finally:
        close_old_connections()


def run_queued(run_id: int, *, worker: str, clock: Callable[[], datetime] = timezone.now) -> str:
    """Flip the run queued → running and run it to its end; returns the final status ("" if not queued)."""
    if shutdown.draining():
        hand_back(run_id, now=clock())
        return ""
    run = JobRun(pk=run_id, status=JobRun.Status.QUEUED)  # all the task says; the flip checks the row
    if not _flip(run, now=clock(), worker=worker):
        logger.info("event=run_not_queued run=%s action=ignore_delivery", run_id)
        return ""
    definition = find_job(run.job_name)
    if definition is None:
        error = str(UnknownJobError(run.job_name))
        outcomes.record_failure(run, status=JobRun.Status.FAILED, now=clock(), error=error)
        return run.status
    logger.info(
        "event=run_started run=%s job=%s owner=%s attempt=%s", run.pk, run.job_name, run.owner_id, run.attempt
    )
    status = _run_job(run, definition, clock)
    logger.info("event=run_finished run=%s job=%s status=%s", run.pk, run.job_name, status)
    return status


def _flip(run: JobRun, *, now: datetime, worker: str) -> bool:
    """The queued → running flip: one statement, which returns the run and its schedule's policy too.

    It is also the connection's health check. Django's own (CONN_HEALTH_CHECKS: a ``SELECT 1`` before the
    first statement after each task) would add a round trip to every run, so it is skipped here; a
    connection the flip finds broken (the database restarted since the last run) is replaced and the flip
    tried once more. A statement that never reached the server changed nothing.
    """
    connection.health_check_done = True
    try:
        return run.mark_running(now=now, worker=worker, engine_process_id=current_process_id())
    except (InterfaceError, OperationalError):
        logger.warning("event=worker_connection_broken run=%s action=reconnect_and_retry", run.pk)
        connection.close()
        return run.mark_running(now=now, worker=worker, engine_process_id=current_process_id())


def _run_job(run: JobRun, definition: JobDefinition, clock: Callable[[], datetime]) -> str:
    cancellation = Cancellation()
    context = JobContext(
        run_id=run.pk,
        job_name=run.job_name,
        owner_id=run.owner_id,
        schedule_id=run.schedule_id,
        slot=run.slot,
        attempt=run.attempt,
        logger=logging.getLogger(f"jobs.run.{run.job_name}"),
        heartbeat=watch().request_beat,
        cancellation=cancellation,
    )
    timeout = soft_timeout_seconds(policy_for(run.schedule, run.job_name).timeout_seconds)
    try:
        with interruptible() as interrupt, watch().watching(run, cancellation, interrupt), deadline(timeout):
            result = definition.func(context, **run.kwargs)
        outcome = partial(outcomes.record_success, run, result=_storable(result))
    except RunTimedOut as timed_out:
        outcome = partial(
            outcomes.record_failure,
            run,
            status=JobRun.Status.TIMED_OUT,
            error=str(timed_out),
            traceback=_trace(),
        )
    except RunCancelled as cancelled:
        outcome = partial(outcomes.record_cancelled, run, reason=_cancel_reason(cancelled, cancellation))
    except RunSkipped as skipped:
        outcome = partial(
            outcomes.record_skipped,
            run,
            reason=f"Skipped: {skipped.reason}",
            result=_storable(skipped.result),
            recheck_after=skipped.recheck_after,
        )
    except Exception as error:
        trace = _trace()
        _call_exception_hook(definition, context, error)
        outcome = partial(
            outcomes.record_failure, run, status=JobRun.Status.FAILED, error=_one_line(error), traceback=trace
        )
    _record(outcome, clock)
    return run.status


def _record(outcome: Callable[..., bool], clock: Callable[[], datetime]) -> None:
    """Record the outcome; once more on a fresh connection if the job (or its interruption in the middle
    of a query) left the connection broken."""
    try:
        outcome(now=clock())
    except DatabaseError:
        logger.warning("event=record_outcome_failed action=reconnect_and_retry")
        connection.close()
        outcome(now=clock())


def _cancel_reason(cancelled: RunCancelled, cancellation: Cancellation) -> str | None:
    """The job's own reason, else the engine's; None keeps the reason stored with the cancel request."""
    return str(cancelled) or cancellation.reason or None


def _call_exception_hook(definition: JobDefinition, context: JobContext, error: Exception) -> None:
    if definition.on_exception is None:
        return
    try:
        definition.on_exception(context, error)
    except Exception:
        # The hook's own failure must not hide the job's; it goes to the log beside it.
        logger.exception("event=on_exception_hook_failed run=%s job=%s", context.run_id, context.job_name)


# --- Interrupting the job: a cancellation it ignores, a deadline it passes -------------------------------

_interruptible_main = False


def _on_cancel_signal(signum: int, frame: Any) -> None:
    # Installed once per process and left in place: a signal arriving after the job ended is ignored.
    if _interruptible_main:
        raise RunCancelled("")


@contextmanager
def interruptible() -> Iterator[Callable[[], None]]:
    """Yields a callable (for the watcher's thread) that raises ``RunCancelled`` in this thread.

    In a worker's main thread it sends SIGUSR1, which also breaks a blocking call; in any other thread the
    exception is set asynchronously and takes effect at the thread's next Python instruction.
    """
    global _interruptible_main
    if threading.current_thread() is not threading.main_thread():
        target = threading.get_ident()
        yield lambda: _raise_in_thread(target, RunCancelled)
        return
    if signal.getsignal(signal.SIGUSR1) is not _on_cancel_signal:
        signal.signal(signal.SIGUSR1, _on_cancel_signal)
    main = threading.main_thread().ident
    _interruptible_main = True
    try:
        yield lambda: signal.pthread_kill(main, signal.SIGUSR1)
    finally:
        _interruptible_main = False


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
    timer = threading.Timer(seconds, lambda: _raise_in_thread(target, RunTimedOut))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _raise_in_thread(thread_id: int, exception: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception))


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

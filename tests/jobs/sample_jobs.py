"""Jobs registered for the engine's tests; they record what happened so tests can look."""

import contextlib
import threading
import time
from datetime import timedelta

from jobs.registry import JobContext, RunSkipped, job

CALLS: list[dict] = []
HOOKED: list[tuple[int, str]] = []
# Set by the long jobs once they run, so a test can act on a run that is really executing.
STARTED = threading.Event()


@job("tests.record")
def record(ctx: JobContext, **kwargs) -> dict:
    """Remember the call and succeed."""
    CALLS.append({"run_id": ctx.run_id, "slot": ctx.slot, "attempt": ctx.attempt, "kwargs": kwargs})
    return {"seen": kwargs}


@job("tests.fail", on_exception=lambda ctx, error: HOOKED.append((ctx.run_id, str(error))))
def fail(ctx: JobContext, **kwargs) -> None:
    """Always fail."""
    raise RuntimeError("the disk is full")


@job("tests.sleep")
def sleep(ctx: JobContext, seconds: float = 5.0) -> dict:
    """Take a while (in small steps, like a job that checks its own progress)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return {"slept": seconds}


@job("tests.swallow")
def swallow(ctx: JobContext, seconds: float = 5.0) -> None:
    """Catch every Exception, the way careless jobs do: a timeout must still end it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            time.sleep(0.05)


def _broken_hook(ctx: JobContext, error: BaseException) -> None:
    raise ValueError("the hook itself is broken")


@job("tests.fail_with_broken_hook", on_exception=_broken_hook)
def fail_with_broken_hook(ctx: JobContext, **kwargs) -> None:
    """Fail, and let the exception hook fail too."""
    raise RuntimeError("the real problem")


@job("tests.skip")
def skip(ctx: JobContext, recheck_minutes: int | None = None) -> None:
    """Decide there is nothing to do, optionally asking for a recheck."""
    recheck = timedelta(minutes=recheck_minutes) if recheck_minutes else None
    raise RunSkipped("nothing to do today", recheck_after=recheck, result={"checked": True})


@job("tests.until_cancelled")
def until_cancelled(ctx: JobContext, seconds: float = 30.0) -> dict:
    """A cooperative long job: works in small steps and stops at the first step after a cancellation."""
    STARTED.set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ctx.raise_if_cancelled()
        time.sleep(0.01)
    return {"finished": True}


@job("tests.stubborn")
def stubborn(ctx: JobContext, seconds: float = 30.0) -> dict:
    """A long job that never checks for cancellation (the engine has to interrupt it)."""
    STARTED.set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return {"finished": True}


@job("tests.slow_cleanup")
def slow_cleanup(ctx: JobContext, cleanup_seconds: float = 1.0) -> None:
    """A cooperative job whose cleanup after a cancellation takes several heartbeats."""
    STARTED.set()
    try:
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.01)
    finally:
        time.sleep(cleanup_seconds)
        CALLS.append({"run_id": ctx.run_id, "cleanup": "finished"})


@job("tests.on_reports_queue", queue="reports")
def on_reports_queue(ctx: JobContext, **kwargs) -> dict:
    """A job of a queue of its own (``qcluster --queue reports`` takes it)."""
    CALLS.append({"run_id": ctx.run_id, "slot": ctx.slot, "attempt": ctx.attempt, "kwargs": kwargs})
    return {"seen": kwargs}


@job("tests.fail_then_retry", max_attempts=2, retry_backoff=timedelta(seconds=10))
def fail_then_retry(ctx: JobContext, **kwargs) -> None:
    """Fail; the job's own policy allows a second attempt."""
    raise RuntimeError("the first attempt always fails")


@job("tests.greet")
def greet(ctx: JobContext, name: str, greeting: str = "Hello") -> dict:
    """A job with a required and an optional argument."""
    CALLS.append({"run_id": ctx.run_id, "kwargs": {"name": name, "greeting": greeting}})
    return {"said": f"{greeting}, {name}"}


@job("tests.report", min_interval=timedelta(minutes=10))
def report(ctx: JobContext, *, days: int = 7, recipients: list | None = None) -> dict:
    """A job that takes a while (runs at least ten minutes apart) and accepts only the arguments it names."""
    return {"days": days, "recipients": recipients or []}

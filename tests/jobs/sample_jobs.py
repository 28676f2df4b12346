"""Jobs registered for the engine's tests; they record what happened so tests can look."""

import contextlib
import time

from jobs.registry import JobContext, job

CALLS: list[dict] = []
HOOKED: list[tuple[int, str]] = []


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

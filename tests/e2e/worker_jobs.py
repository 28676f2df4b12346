"""Jobs the worker end-to-end tests schedule; imported by the qcluster processes those tests start."""

import time
from pathlib import Path

from backups import policy, services
from jobs.registry import JobContext, job


@job("e2e.tick")
def tick(ctx: JobContext, log: str) -> None:
    """Append this run's id to a file: one line per execution, so a doubled execution shows."""
    with Path(log).open("a") as handle:
        handle.write(f"{ctx.run_id}\n")


@job("e2e.slow")
def slow(ctx: JobContext, seconds: float, first_attempt_only: bool = False) -> dict:
    """Take ``seconds`` (on every attempt, or only on the first), heartbeating along the way."""
    if first_attempt_only and ctx.attempt > 1:
        return {"slept": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return {"slept": seconds}


@job("e2e.held_backup")
def held_backup(ctx: JobContext) -> dict:
    """A real backup of the run's owner that holds its upload open until the run is cancelled.

    The hold stands in for a large dump; it waits without raising, so it is the backup pipeline's own
    check between chunks that stops the upload.
    """

    def hold(done: int) -> None:
        ctx.cancellation.wait(timeout=60)

    return services.take_backup(
        owner_id=ctx.owner_id, job_run_id=ctx.run_id, progress=hold, check=ctx.raise_if_cancelled
    ).summary()


@job("e2e.long_backup", queue=policy.QUEUE)
def long_backup(ctx: JobContext, seconds: float) -> dict:
    """A real backup of the run's owner, on the backups queue, taking ``seconds`` (a large dump's time)."""
    deadline = time.monotonic() + seconds

    def take_time(done: int) -> None:
        while time.monotonic() < deadline:
            ctx.raise_if_cancelled()
            time.sleep(0.1)

    return services.take_backup(
        owner_id=ctx.owner_id, job_run_id=ctx.run_id, progress=take_time, check=ctx.raise_if_cancelled
    ).summary()

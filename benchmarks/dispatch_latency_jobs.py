"""Jobs the dispatch-latency benchmark schedules; imported by the qcluster processes it starts."""

from pathlib import Path

from django.utils import timezone

from jobs.registry import JobContext, job


@job("bench.noop")
def noop(ctx: JobContext, log: str) -> None:
    """Write this run's id: one line per execution, so a doubled execution would show."""
    with Path(log).open("a") as handle:
        handle.write(f"{ctx.run_id}\n")


def q_record(log: str, intended: str) -> None:
    """django-q2's own scheduler runs this: the intended slot and the actual start, one line each run."""
    started = timezone.now().isoformat()
    with Path(log).open("a") as handle:
        handle.write(f"{intended} {started}\n")

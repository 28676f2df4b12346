"""Jobs the dispatch-latency benchmark runs; imported by the qcluster processes it starts.

Each writes one line per execution, ``<id> <unix time at start>``, so a doubled execution shows and the
start times of our runs and of raw django-q2 tasks are read the same way.
"""

import time
from pathlib import Path

from django.utils import timezone

from jobs.registry import JobContext, job


def _log(log: str, marker: str) -> None:
    started = time.time()
    with Path(log).open("a") as handle:
        handle.write(f"{marker} {started:.6f}\n")


@job("bench.noop")
def noop(ctx: JobContext, log: str) -> None:
    """Our trivial run: note the run id and the start."""
    _log(log, str(ctx.run_id))


def q_noop(log: str, marker: str) -> None:
    """The same trivial work as a raw django-q2 task (``async_task``)."""
    _log(log, marker)


def q_record(log: str, intended: str) -> None:
    """django-q2's own scheduler runs this: the intended slot and the actual start, one line each run."""
    started = timezone.now().isoformat()
    with Path(log).open("a") as handle:
        handle.write(f"{intended} {started}\n")

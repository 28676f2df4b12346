"""Handing queued runs to django-q2 in batches: each run becomes the task ``jobs.runner.execute(run_id)``.

A claimed batch is packed the way ``async_task`` packs a task and handed over at once, inside the claim's
transaction (``jobs.djangoq.enqueue_in_transaction``: one bulk insert on the ORM broker, one RPUSH after
commit on Redis). If a push is lost, the reaper re-enqueues runs left ``queued`` too long.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime

from jobs import djangoq
from jobs.models import JobRun
from jobs.timeouts import hard_timeout_seconds

TASK_FUNC = "jobs.runner.execute"


def new_task_id() -> str:
    return uuid.uuid4().hex


def pack_task(run: JobRun, timeout_seconds: int | None) -> str:
    """The signed package ``async_task`` would push for ``execute(run.pk)``.

    Its timeout is django-q2's hard kill, which comes after the run's own soft deadline (jobs.timeouts).
    """
    return djangoq.task_package(
        task_id=run.task_id,
        name=f"jobrun-{run.pk}",
        func=TASK_FUNC,
        args=(run.pk,),
        timeout=hard_timeout_seconds(timeout_seconds),
    )


def enqueue_runs(runs: Iterable[tuple[JobRun, int | None]], *, available_at: datetime | None = None) -> int:
    """Enqueue ``(run, timeout_seconds)`` pairs; call inside the transaction that made them ``queued``.

    On the ORM broker the tasks join that transaction (and wait in the table until ``available_at``, when
    given); on other brokers the push happens after commit, so a rolled-back claim never reaches a worker.
    """
    packages = [pack_task(run, timeout) for run, timeout in runs]
    djangoq.enqueue_in_transaction(packages, available_at=available_at)
    return len(packages)

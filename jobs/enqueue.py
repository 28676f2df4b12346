"""Handing queued runs to django-q2 in batches: each run becomes the task ``jobs.runner.execute(run_id)``.

A claimed batch is packed the way ``async_task`` packs a task and handed over at once, inside the claim's
transaction (``jobs.djangoq.enqueue_in_transaction``: one bulk insert on the ORM broker, one RPUSH after
commit on Redis). If a push is lost, the reaper re-enqueues runs left ``queued`` too long.
"""

import uuid
from collections.abc import Iterable

from django.conf import settings

from jobs import djangoq
from jobs.models import JobRun

TASK_FUNC = "jobs.runner.execute"
# django-q2 kills a worker at the task's timeout; ours fires first, this is the backstop for a stuck run.
HARD_TIMEOUT_MARGIN_SECONDS = 30


def new_task_id() -> str:
    return uuid.uuid4().hex


def pack_task(run: JobRun, timeout_seconds: int | None) -> str:
    """The signed package ``async_task`` would push for ``execute(run.pk)``."""
    hard_timeout = min(
        (timeout_seconds or settings.JOBS_MAX_TIMEOUT) + HARD_TIMEOUT_MARGIN_SECONDS,
        settings.JOBS_MAX_TIMEOUT,
    )
    return djangoq.task_package(
        task_id=run.task_id, name=f"jobrun-{run.pk}", func=TASK_FUNC, args=(run.pk,), timeout=hard_timeout
    )


def enqueue_runs(runs: Iterable[tuple[JobRun, int | None]]) -> int:
    """Enqueue ``(run, timeout_seconds)`` pairs; call inside the transaction that made them ``queued``.

    On the ORM broker the tasks join that transaction; on other brokers the push happens after commit, so
    a rolled-back claim never reaches a worker.
    """
    packages = [pack_task(run, timeout) for run, timeout in runs]
    djangoq.enqueue_in_transaction(packages)
    return len(packages)

"""Handing queued runs to django-q2 in batches: each run becomes the task ``jobs.runner.execute(run_id)``.

A claimed batch is packed the way ``async_task`` packs a task and handed over at once, inside the claim's
transaction (``jobs.djangoq.enqueue_in_transaction``: one bulk insert on the ORM broker, one RPUSH after
commit on Redis), one handover per queue. A run goes to its own queue when a live qcluster consumes it,
else to the default queue (``jobs.queues.route``). If a push is lost, the reaper re-enqueues runs left
``queued`` too long.

Named ``handoff``, not ``enqueue``: ``from jobs import enqueue`` is the public code API (``jobs.api``).
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from jobs import djangoq
from jobs.models import EngineProcess, JobRun
from jobs.queues import DEFAULT_QUEUE, route
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


def enqueue_runs(
    runs: Iterable[tuple[JobRun, int | None]],
    *,
    now: datetime | None = None,
    available_at: datetime | None = None,
) -> int:
    """Enqueue ``(run, timeout_seconds)`` pairs; call inside the transaction that made them ``queued``.

    On the ORM broker the tasks join that transaction (and wait in the table until ``available_at``, when
    given); on other brokers the push happens after commit, so a rolled-back claim never reaches a worker.
    """
    by_queue: dict[str, list[str]] = defaultdict(list)
    runs = list(runs)
    # Only a run of another queue needs to know who is listening; the default queue asks nothing.
    wanted = {run.queue_name for run, _ in runs} - {DEFAULT_QUEUE}
    consumed = EngineProcess.objects.consumed_queues(now or timezone.now()) if wanted else set()
    for run, timeout in runs:
        by_queue[route(run.queue_name, consumed)].append(pack_task(run, timeout))
    for queue, packages in by_queue.items():
        djangoq.enqueue_in_transaction(packages, queue=queue, available_at=available_at)
    return len(runs)

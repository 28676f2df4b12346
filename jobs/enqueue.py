"""Handing queued runs to django-q2 in batches, through its own package format and broker.

``async_task`` commits one broker row per call on the ORM broker (~30 per second). A claimed batch is
packed the way ``async_task`` packs a task (``SignedPackage``) and written at once: on the ORM broker as one
``bulk_create`` inside the claim transaction (claim and enqueue commit together), on Redis as one RPUSH
right after commit. If that push is lost, the reaper re-enqueues runs left ``queued`` too long.
"""

import logging
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from jobs.models import JobRun
from jobs.timeouts import hard_timeout_seconds

logger = logging.getLogger(__name__)

TASK_FUNC = "jobs.runner.execute"

_broker: Broker | None = None


def broker() -> Broker:
    global _broker
    if _broker is None:
        _broker = get_broker()
    return _broker


def new_task_id() -> str:
    return uuid.uuid4().hex


def pack_task(run: JobRun, timeout_seconds: int | None) -> str:
    """The signed package ``async_task`` would push for ``execute(run.pk)``.

    Its timeout is django-q2's hard kill, which comes after the run's own soft deadline (jobs.timeouts).
    """
    task = {
        "id": run.task_id,
        "name": f"jobrun-{run.pk}",
        "func": TASK_FUNC,
        "args": (run.pk,),
        "kwargs": {},
        "timeout": hard_timeout_seconds(timeout_seconds),
        "ack_failure": Conf.ACK_FAILURES,
        # The JobRun row is the history; django-q2 keeps only failed tasks of its own.
        "save": False,
        "started": timezone.now(),
    }
    return SignedPackage.dumps(task)


def enqueue_runs(runs: Iterable[tuple[JobRun, int | None]]) -> int:
    """Enqueue ``(run, timeout_seconds)`` pairs; call inside the transaction that made them ``queued``.

    On the ORM broker the rows join that transaction; on other brokers the push happens after commit, so a
    rolled-back claim never reaches a worker.
    """
    packages = [pack_task(run, timeout) for run, timeout in runs]
    if not packages:
        return 0
    target = broker()
    if isinstance(target, ORM):
        now = timezone.now()
        key = target.list_key or Conf.CLUSTER_NAME
        OrmQ.objects.using(Conf.ORM).bulk_create(
            [OrmQ(key=key, payload=package, lock=now) for package in packages]
        )
    else:
        transaction.on_commit(lambda: push_packages(target, packages))
    return len(packages)


def push_packages(target: Broker, packages: list[str]) -> None:
    """Push packages to a non-ORM broker, in one round trip where the broker allows it."""
    try:
        if isinstance(target, Redis):
            target.connection.rpush(target.list_key, *packages)
        else:
            for package in packages:
                target.enqueue(package)
    except Exception:
        # The runs stay `queued`; the reaper re-enqueues them once they are overdue.
        logger.exception("event=enqueue_failed count=%s", len(packages))

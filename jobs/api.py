"""The code API, ``from jobs import enqueue``: run a registered job from code, now or later.

    from jobs import enqueue

    with transaction.atomic():
        order = Order.objects.create(...)
        enqueue("shop.send_receipt", owner=order.owner, kwargs={"order_id": order.pk})
        enqueue("shop.ask_for_review", owner=order.owner, kwargs={...}, delay=timedelta(days=3))

Fire-and-forget without ``at`` or ``delay`` (Hangfire's ``Enqueue``), delayed with them (``Schedule``). The
run is a ``JobRun`` like any other (trigger ``enqueued``): the job's retry, timeout and overlap policies, the
run history, cancel and retry in the admin.

Transaction-aware: the run row is written in the caller's transaction, and a run that is due goes to the
broker the way the dispatcher hands over its claims (``jobs.handoff``: on the ORM broker the task row joins
the transaction, on Redis it is pushed after commit). A rolled-back transaction leaves neither a run nor a
task, so a request that fails never sends its e-mail. A later run waits as ``scheduled`` and the dispatcher
hands it over when due (woken after commit).

``unique_key`` (Oban's unique jobs): while a run of the same owner and job holds the key (waiting, queued
or running, a retry included), enqueuing it again returns that run. The database decides: a partial unique
index on ``JobRun``, an insert that relies on it, and on conflict the run that holds the key.
"""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.handoff import enqueue_runs, new_task_id
from jobs.models import JobRun, JobSwitch
from jobs.queues import InvalidQueueName, validate_queue_name
from jobs.registry import GlobalJobError, InvalidJobArguments, UnknownJobError, check_owner_may_run, get_job
from jobs.retries import policy_for
from jobs.wakeup import wake_dispatchers
from tenants.models import GLOBAL_OWNER_ID, Owner

__all__ = ["EnqueueRefused", "GlobalJobError", "InvalidJobArguments", "UnknownJobError", "enqueue"]

logger = logging.getLogger(__name__)

UNIQUE_KEY_MAX_LENGTH = JobRun._meta.get_field("unique_key").max_length
# A key's holder can end between our refused insert and our read; then we insert again, this many times.
UNIQUE_KEY_ATTEMPTS = 3


class EnqueueRefused(ValueError):
    """``enqueue`` was called with something it cannot use (a naive time, both ``at`` and ``delay``, an
    owner that does not exist, arguments that cannot be stored); the message says what."""


def enqueue(
    job_name: str,
    *,
    owner: Owner | int | None = None,
    kwargs: dict[str, Any] | None = None,
    at: datetime | None = None,
    delay: timedelta | None = None,
    unique_key: str | None = None,
    queue: str | None = None,
    now: datetime | None = None,
) -> JobRun:
    """Run the job ``job_name`` for ``owner`` (default: the global owner) with ``kwargs``: now, at ``at``
    (an aware datetime), or after ``delay``. Returns the run (or, with ``unique_key``, the run that holds
    the key).

    ``queue`` names the queue the run goes to instead of its job's (``jobs.queues``: it is handed there
    while a live qcluster consumes that queue, else to the default one). ``now`` is the current time (tests
    pass their own clock). Raises ``UnknownJobError`` for a name no job is registered under,
    ``GlobalJobError`` for a job that works on every owner asked for another owner than the global one,
    ``InvalidJobArguments`` for arguments the job's function cannot take, ``EnqueueRefused`` for the rest
    of what cannot be used.
    """
    now = now or timezone.now()
    definition = get_job(job_name)
    kwargs = {} if kwargs is None else kwargs
    definition.check_kwargs(kwargs)
    _require_json(job_name, kwargs)
    due = _due_at(at=at, delay=delay, now=now)
    owner_id = _owner_id(owner)
    check_owner_may_run(job_name, owner_id)
    run = JobRun.planned(
        job_name=job_name,
        owner_id=owner_id,
        slot=due,
        trigger=JobRun.Trigger.ENQUEUED,
        kwargs=kwargs,
        unique_key=_checked_unique_key(unique_key),
        queue_name=_requested_queue(queue),
    )
    with transaction.atomic():
        hand_over = due <= now and settings.JOBS_ENABLED and not _switched_off(job_name)
        if hand_over:
            run.queue(now=now, task_id=new_task_id(), held=True)
        saved = _insert_holding_key(run)
        if saved is not run:
            logger.info(
                "event=enqueue_joined_existing run=%s job=%s owner=%s", saved.pk, job_name, saved.owner_id
            )
            return saved
        if hand_over:
            enqueue_runs([(run, policy_for(None, job_name).timeout_seconds)], now=now)
        else:
            transaction.on_commit(wake_dispatchers)
    logger.info(
        "event=run_enqueued run=%s job=%s owner=%s status=%s due=%s",
        run.pk,
        job_name,
        run.owner_id,
        run.status,
        run.due_at.isoformat(),
    )
    return run


def _requested_queue(queue: str | None) -> str | None:
    """The queue asked for, checked to be a queue name (or None: the job's own queue)."""
    if queue is None:
        return None
    try:
        return validate_queue_name(queue)
    except InvalidQueueName as invalid:
        raise EnqueueRefused(str(invalid)) from None


def _due_at(*, at: datetime | None, delay: timedelta | None, now: datetime) -> datetime:
    if at is not None and delay is not None:
        raise EnqueueRefused("Give at (a time) or delay (a duration), not both.")
    if at is not None:
        if not isinstance(at, datetime):
            raise EnqueueRefused(f"at is a datetime, not {at!r}.")
        if at.utcoffset() is None:
            raise EnqueueRefused(
                f"at={at.isoformat()} has no time zone; pass an aware datetime, e.g. "
                "timezone.now() + timedelta(hours=1) or datetime(…, tzinfo=ZoneInfo('Europe/London'))."
            )
        return max(at.astimezone(UTC), now)
    if delay is not None:
        if not isinstance(delay, timedelta):
            raise EnqueueRefused(f"delay is a timedelta, not {delay!r}.")
        if delay < timedelta(0):
            raise EnqueueRefused(f"delay cannot be negative ({delay}).")
        return now + delay
    return now


def _owner_id(owner: Owner | int | None) -> int:
    if owner is None:
        return GLOBAL_OWNER_ID
    if isinstance(owner, Owner):
        if owner.pk is None:
            raise EnqueueRefused("The owner has not been saved yet.")
        return owner.pk
    if isinstance(owner, bool) or not isinstance(owner, int):
        raise EnqueueRefused(f"owner is an Owner or an owner id, not {owner!r}.")
    if not Owner.objects.filter(pk=owner).exists():
        raise EnqueueRefused(f"No owner with id {owner}.")
    return owner


def _require_json(job_name: str, kwargs: dict[str, Any]) -> None:
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError) as error:
        raise InvalidJobArguments(
            f"Job {job_name}: the arguments are stored on the run as JSON, and {error}; pass ids, text and "
            "numbers (e.g. an order's id rather than the order)."
        ) from None


def _checked_unique_key(unique_key: str | None) -> str:
    if unique_key is None:
        return ""
    if not isinstance(unique_key, str) or not unique_key.strip():
        raise EnqueueRefused(f"unique_key is a non-empty text, not {unique_key!r}.")
    if len(unique_key) > UNIQUE_KEY_MAX_LENGTH:
        raise EnqueueRefused(f"unique_key is at most {UNIQUE_KEY_MAX_LENGTH} characters long.")
    return unique_key


def _switched_off(job_name: str) -> bool:
    return JobSwitch.objects.filter(job_name=job_name, enabled=False).exists()


def _insert_holding_key(run: JobRun) -> JobRun:
    """Insert ``run``; if the unique index refuses it, the run that holds its key instead."""
    for _ in range(UNIQUE_KEY_ATTEMPTS):
        try:
            with transaction.atomic():
                run.save(force_insert=True)
            return run
        except IntegrityError:
            if not run.unique_key:
                raise
            run.pk = None
        holder = JobRun.key_holder(owner_id=run.owner_id, job_name=run.job_name, unique_key=run.unique_key)
        if holder is not None:
            return holder
    raise EnqueueRefused(
        f"The unique key of job {run.job_name} was taken and released {UNIQUE_KEY_ATTEMPTS} times while "
        "enqueuing; try again."
    )

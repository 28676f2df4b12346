"""The policy a run follows (from its schedule, else its job), and the follow-up runs a failure or a skip
leads to: a retry with backoff, or one recheck later."""

import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from jobs.models import JobRun, Schedule
from jobs.policies import OverlapPolicy
from jobs.registry import JobDefinition, UnknownJobError, get_job

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(days=1)


@dataclass(frozen=True)
class RunPolicy:
    overlap: str = OverlapPolicy.SKIP
    overlap_retry_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 1
    retry_backoff: timedelta = timedelta(seconds=30)
    timeout_seconds: int | None = None


def policy_for(schedule: Schedule | None, job_name: str) -> RunPolicy:
    """A schedule's own policy; a run without a schedule follows its job's defaults."""
    if schedule is not None:
        return RunPolicy(
            overlap=schedule.overlap_policy,
            overlap_retry_delay=timedelta(seconds=schedule.overlap_retry_delay_seconds),
            max_attempts=schedule.max_attempts,
            retry_backoff=timedelta(seconds=schedule.retry_backoff_seconds),
            timeout_seconds=schedule.timeout_seconds,
        )
    definition = find_job(job_name)
    if definition is None:
        return RunPolicy()
    return RunPolicy(
        overlap=definition.overlap,
        overlap_retry_delay=definition.overlap_retry_delay,
        max_attempts=definition.max_attempts,
        retry_backoff=definition.retry_backoff,
        timeout_seconds=int(definition.timeout.total_seconds()) if definition.timeout else None,
    )


def policy_for_run(run: JobRun) -> RunPolicy:
    """The policy ``run`` follows when it is due: its schedule's (or its job's), except that the runs of a
    backfill wait for whatever of the schedule is in flight and so run one after another."""
    policy = policy_for(run.schedule, run.job_name)
    if run.trigger == JobRun.Trigger.BACKFILL:
        return replace(policy, overlap=OverlapPolicy.QUEUE)
    return policy


def find_job(name: str) -> JobDefinition | None:
    try:
        return get_job(name)
    except UnknownJobError:
        return None


def backoff_delay(base: timedelta, attempt: int, rng: random.Random | None = None) -> timedelta:
    """Backoff after failed attempt number ``attempt``: base * 2 ** (attempt - 1), plus up to 25 % jitter.

    The jitter spreads the retries of many runs that failed together (one outage) over time.
    """
    exponential = base * (2 ** max(attempt - 1, 0))
    jitter = (rng or random).uniform(0.0, 0.25)
    return min(exponential * (1 + jitter), MAX_BACKOFF)


def schedule_retry(
    run: JobRun, *, now: datetime, policy: RunPolicy, rng: random.Random | None = None
) -> JobRun | None:
    """Create the next attempt of a failed/lost/timed-out run, due after the backoff; None when none is left.

    Idempotent: if another process already created that attempt, the unique (schedule, slot, attempt)
    constraint refuses the second one and None is returned.
    """
    if run.attempt >= policy.max_attempts:
        return None
    retry = run.next_attempt(due_at=now + backoff_delay(policy.retry_backoff, run.attempt, rng))
    try:
        with transaction.atomic():
            retry.save()
    except IntegrityError:
        logger.info("event=retry_exists run=%s attempt=%s", run.pk, run.attempt + 1)
        return None
    return retry


def recheck_after_skip(
    run: JobRun, *, now: datetime, delay: timedelta, next_regular_slot: datetime | None
) -> JobRun | None:
    """The unsaved follow-up of a skipped run: one more attempt ``delay`` after ``now``, or None.

    Only a run that stands for one of its schedule's slots (trigger ``scheduled``) is rechecked, and only
    once: a recheck that is skipped again, a manual run, a start-up run or a retry gets none (so a burst of
    manual requests cannot breed follow-ups). None as well when the schedule's next regular slot comes
    before the recheck would: that slot tries again anyway.
    """
    if run.schedule_id is None or run.trigger != JobRun.Trigger.SCHEDULED:
        return None
    due = now + delay
    if next_regular_slot is not None and next_regular_slot <= due:
        return None
    return run.next_attempt(due_at=due)

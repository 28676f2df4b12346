"""Missed runs, the way healthchecks sees a silent check: an expected start that did not happen in time.

A schedule's run is *missed* when it has not started within the schedule's grace period
(``misfire_grace_seconds``) after it was due. That happens in two places:

- not dispatched: the schedule's ``next_run_at`` lies more than the grace period in the past, so no
  dispatcher claimed the slot (the dispatchers are down, or stuck); a schedule past its window's end has
  no slot left, so it is never missed;
- not started: a run was created for the slot but is still waiting (``scheduled`` or ``queued``) more than
  the grace period after its ``due_at`` (no worker picked it up).

``find_missed_runs()`` answers "what is missed right now" for the dashboard; ``report_missed_runs()``
records each missed slot once (``MissedRunAlert``, unique per schedule and slot) and tells the owner's
contact once per slot, through the notifications outbox (one message per owner and check).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, IntegerField, Q, Value
from django.db.models.functions import Cast

from jobs.models import JobRun, Schedule
from notifications import outbox
from notifications.models import Notification
from ops.models import MissedRunAlert
from tenants.models import Owner

logger = logging.getLogger(__name__)

# Bounds every question this module asks: a flood of missed slots is reported in slices, a minute apart.
MAX_MISSED_PER_CHECK = 500
WAITING = (JobRun.Status.SCHEDULED, JobRun.Status.QUEUED)


@dataclass(frozen=True)
class MissedRun:
    """One expected start that did not happen within its grace period."""

    schedule_id: int
    owner_id: int
    owner_name: str
    job_name: str
    schedule_label: str
    kind: MissedRunAlert.Kind
    expected_at: datetime
    grace: timedelta
    run_id: int | None = None

    def late_by(self, now: datetime) -> timedelta:
        return now - self.expected_at


@dataclass(frozen=True)
class MissedRunReport:
    """What one check found: missed slots seen, new ones recorded, and owners given a message."""

    missed: int
    newly_recorded: int
    owners_notified: int


def _grace_deadline(field: str) -> ExpressionWrapper:
    # expected time + the schedule's own grace period, computed by the database on both backends
    seconds = "misfire_grace_seconds" if field == "next_run_at" else "schedule__misfire_grace_seconds"
    # The cast: SQLite's duration arithmetic accepts IntegerField, not PositiveIntegerField.
    grace = ExpressionWrapper(
        Cast(seconds, IntegerField()) * Value(timedelta(seconds=1)), output_field=DurationField()
    )
    return ExpressionWrapper(F(field) + grace, output_field=DateTimeField())


def find_missed_runs(
    now: datetime, *, owner_ids: set[int] | None = None, limit: int = MAX_MISSED_PER_CHECK
) -> list[MissedRun]:
    """Every schedule slot that should have started by ``now`` and has not, oldest first.

    ``owner_ids`` restricts the answer to those owners (``None``: all). At most ``limit`` of each kind are
    returned; two bounded queries, whatever the number of schedules and runs. While the engine is switched
    off (``JOBS_ENABLED``) nothing is expected to start, so nothing is missed.
    """
    if not settings.JOBS_ENABLED:
        return []
    undispatched = (
        Schedule.objects.filter(enabled=True, paused_at__isnull=True, next_run_at__lt=now)
        # A next slot outside the schedule's window (left by a bulk update) is no slot: an ended
        # schedule is not missed.
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gte=F("next_run_at")))
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=F("next_run_at")))
        .alias(deadline=_grace_deadline("next_run_at"))
        .filter(deadline__lt=now)
        .order_by("next_run_at")
    )
    waiting = (
        JobRun.objects.filter(status__in=WAITING, schedule__isnull=False, due_at__lt=now)
        .alias(deadline=_grace_deadline("due_at"))
        .filter(deadline__lt=now)
        .order_by("due_at")
    )
    if owner_ids is not None:
        undispatched = undispatched.filter(owner_id__in=owner_ids)
        waiting = waiting.filter(owner_id__in=owner_ids)
    missed = [
        MissedRun(
            schedule_id=schedule.pk,
            owner_id=schedule.owner_id,
            owner_name=schedule.owner.name,
            job_name=schedule.job_name,
            schedule_label=str(schedule),
            kind=MissedRunAlert.Kind.NOT_DISPATCHED,
            expected_at=schedule.next_run_at,
            grace=timedelta(seconds=schedule.misfire_grace_seconds),
        )
        for schedule in undispatched.select_related("owner")[:limit]
    ]
    missed += [
        MissedRun(
            schedule_id=run.schedule_id,
            owner_id=run.owner_id,
            owner_name=run.owner.name,
            job_name=run.job_name,
            schedule_label=str(run.schedule),
            kind=MissedRunAlert.Kind.NOT_STARTED,
            expected_at=run.due_at,
            grace=timedelta(seconds=run.schedule.misfire_grace_seconds),
            run_id=run.pk,
        )
        # Whole schedule rows: Schedule.from_db reads its timing fields, so deferring them would recurse.
        for run in waiting.select_related("schedule", "owner").defer("traceback", "result", "kwargs")[:limit]
    ]
    return sorted(missed, key=lambda item: item.expected_at)


def record_missed_runs(missed: list[MissedRun], now: datetime) -> int:
    """Store an alert for each missed slot not recorded before; returns how many are new.

    The unique (schedule, expected_at) constraint decides, so concurrent checkers record a slot once.
    """
    if not missed:
        return 0
    known = set(
        MissedRunAlert.objects.filter(
            schedule_id__in={item.schedule_id for item in missed},
            expected_at__gte=min(item.expected_at for item in missed),
        ).values_list("schedule_id", "expected_at")
    )
    recorded = 0
    for item in missed:
        if (item.schedule_id, item.expected_at) in known:
            continue
        try:
            with transaction.atomic():
                MissedRunAlert.objects.create(
                    schedule_id=item.schedule_id,
                    owner_id=item.owner_id,
                    run_id=item.run_id,
                    job_name=item.job_name,
                    kind=item.kind,
                    expected_at=item.expected_at,
                    detected_at=now,
                )
        except IntegrityError:
            continue  # another checker recorded it first; it reports it too
        known.add((item.schedule_id, item.expected_at))
        recorded += 1
    return recorded


def notify_owners(now: datetime, *, limit: int = MAX_MISSED_PER_CHECK) -> int:
    """Hand each owner's unreported alerts to its outbox as one message, and mark them reported.

    One transaction: the alerts are locked (SKIP LOCKED, so two checkers never take the same ones), the
    outbox rows are written and the alerts marked reported together. No mail is sent here: the outbox's
    sender does that after commit, and one owner's failing send cannot undo another owner's report.
    Returns how many owners got a message.
    """
    with transaction.atomic():
        pending = list(
            MissedRunAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(reported_at__isnull=True)
            .select_related("owner", "schedule")
            .order_by("expected_at")[:limit]
        )
        by_owner: dict[int, list[MissedRunAlert]] = defaultdict(list)
        for alert in pending:
            by_owner[alert.owner_id].append(alert)
        for alerts in by_owner.values():
            owner = alerts[0].owner
            outbox.record(owner.pk, [missed_runs_notice(owner, alerts)], now=now)
            MissedRunAlert.objects.filter(pk__in=[alert.pk for alert in alerts]).update(
                reported_at=now, reported_to=owner.contact_email
            )
    if by_owner:
        logger.info(
            "missed runs handed to the outbox", extra={"owners": len(by_owner), "alerts": len(pending)}
        )
    return len(by_owner)


def missed_runs_notice(owner: Owner, alerts: list[MissedRunAlert]) -> outbox.NewNotification:
    """One message listing an owner's newly missed runs, expected times in the owner's time zone."""
    return outbox.NewNotification(
        kind=Notification.Kind.MISSED_RUNS,
        # Each alert is reported once, so its first alert names the message for good.
        dedup_key=f"missed_runs:{alerts[0].pk}",
        payload={
            "count": len(alerts),
            "alerts": [
                {
                    "job_name": alert.job_name,
                    "schedule": str(alert.schedule),
                    "kind": alert.get_kind_display(),
                    "expected_local": alert.expected_at.astimezone(owner.zone).strftime("%Y-%m-%d %H:%M %Z"),
                }
                for alert in alerts
            ],
        },
    )


def report_missed_runs(now: datetime) -> MissedRunReport:
    """Find missed slots, record the new ones, and hand everything not yet reported to the owners' outbox."""
    missed = find_missed_runs(now)
    recorded = record_missed_runs(missed, now)
    notified = notify_owners(now)
    return MissedRunReport(missed=len(missed), newly_recorded=recorded, owners_notified=notified)

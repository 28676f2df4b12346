"""Each owner's backup Schedule, derived from its BACKUP_SCHEDULE_* settings and kept in sync with them.

One managed Schedule per owner (job ``backups.run``, key ``managed``, ``managed_by="backups"``). It is
re-derived when the owner's settings change, when the global owner's settings change (every owner may
inherit them), when an owner is created or saved (its time zone or active flag may have changed), and on
start-up / ``manage.py backup sync-schedules`` through ``sync_all_backup_schedules()``.

The spread: each owner's backup starts at its BACKUP_SCHEDULE_TIME plus an offset of its own within
BACKUP_SCHEDULE_SPREAD minutes, a hash of the owner's id (stable, not random). The offset is part of the
derived cron expression (with seconds), so the schedule's next fire time is the real start, DST rules
included (the wall-clock time in the owner's zone, like any cron schedule).
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, transaction

from backups import policy
from backups.owner_settings import (
    SCHEDULE_ENABLED,
    SCHEDULE_FREQUENCY,
    SCHEDULE_KEYS,
    SCHEDULE_SPREAD,
    SCHEDULE_TIME,
    SCHEDULE_WEEKDAY,
    WEEKDAYS,
)
from jobs.managed import describe_keeper
from jobs.models import JobRun, Schedule, TriggerKind
from jobs.services import run_now
from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID, Owner, OwnerSetting

logger = logging.getLogger(__name__)

JOB_NAME = policy.JOB_NAME
SCHEDULE_KEY = "managed"
MANAGED_BY = "backups"
# A day to do time-of-day arithmetic on (which day it is does not matter).
_ANY_DAY = date(2000, 1, 3)

describe_keeper(
    MANAGED_BY,
    lambda schedule: (
        f"{schedule.owner}'s backup schedule, derived from the owner's backup settings "
        f"({', '.join(SCHEDULE_KEYS)}: set them on the owner's page; unset ones are inherited from "
        "the global owner) and re-derived whenever they change. Change those settings, not this schedule"
    ),
)


@dataclass(frozen=True)
class BackupTiming:
    enabled: bool
    at: time  # the owner's chosen time of day
    frequency: str  # "daily" | "weekly"
    weekday: str  # "monday" … "sunday"
    offset: timedelta = timedelta(0)  # the owner's place in the spread, under a day

    @property
    def starts_at(self) -> time:
        """The time of day the backup really starts: the chosen time plus the offset (past midnight too)."""
        return self._start.time()

    @property
    def start_weekday(self) -> str:
        """The weekday the backup really starts on: the chosen one, or the next when the offset passes
        midnight."""
        days_later = (self._start.date() - _ANY_DAY).days
        return WEEKDAYS[(WEEKDAYS.index(self.weekday) + days_later) % 7]

    @property
    def _start(self) -> datetime:
        return datetime.combine(_ANY_DAY, self.at) + self.offset

    @property
    def cron_expression(self) -> str:
        """``M H * * *`` daily, ``M H * * D`` weekly (cron weekdays count from Sunday = 0); with a spread
        offset, 6 fields with the second first (``S M H * * *``)."""
        day = "*"
        if self.frequency == "weekly":
            day = str((WEEKDAYS.index(self.start_weekday) + 1) % 7)
        start = self.starts_at
        fields = f"{start.minute} {start.hour} * * {day}"
        return f"{start.second} {fields}" if self.offset else fields

    @property
    def label(self) -> str:
        shown = f"{self.starts_at:%H:%M:%S}" if self.offset else f"{self.at:%H:%M}"
        when = f"daily at {shown}"
        if self.frequency == "weekly":
            when = f"every {self.start_weekday.capitalize()} at {shown}"
        if self.offset:
            chosen = f"{self.weekday.capitalize()} " if self.frequency == "weekly" else ""
            when += f" ({chosen}{self.at:%H:%M} + {_clock(self.offset)} spread)"
        return f"Backup, {when} (from settings)"


def spread_offset(owner_id: int, spread_minutes: int) -> timedelta:
    """The owner's stable place within the spread: whole seconds in [0, spread), from a hash of its id.

    Evenly spread over the window across owners, the same for an owner on every derivation, every
    process and every release (sha256, not Python's per-process ``hash``).
    """
    window = spread_minutes * 60
    if window <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"backup-spread:{owner_id}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % window)


def backup_timing(owner_id: int) -> BackupTiming:
    """The owner's effective backup schedule settings (own → global owner → Django setting → default)."""
    values = owner_settings.resolve_all(owner_id, SCHEDULE_KEYS)
    return BackupTiming(
        enabled=values[SCHEDULE_ENABLED.key].value,
        at=values[SCHEDULE_TIME.key].value,
        frequency=values[SCHEDULE_FREQUENCY.key].value,
        weekday=values[SCHEDULE_WEEKDAY.key].value,
        offset=spread_offset(owner_id, values[SCHEDULE_SPREAD.key].value),
    )


def _clock(offset: timedelta) -> str:
    minutes, seconds = divmod(int(offset.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def sync_backup_schedule(owner: Owner | int, *, now: datetime | None = None) -> Schedule:
    """Create or update the owner's one managed backup Schedule so it matches its settings now.

    Only the fields derived from settings are written; the engine's ``Schedule.save`` recomputes
    ``next_run_at`` (the next slot after now, in the owner's time zone) when the timing changed.
    """
    if not isinstance(owner, Owner):
        owner = Owner.objects.get(pk=owner)
    timing = backup_timing(owner.pk)
    derived = {
        "trigger_kind": TriggerKind.CRON,
        "cron_expression": timing.cron_expression,
        "timezone": owner.timezone,
        "enabled": timing.enabled and owner.is_active,
        "label": timing.label,
        "managed_by": MANAGED_BY,
        "overlap_policy": policy.OVERLAP,
        "overlap_retry_delay_seconds": int(policy.RECHECK_AFTER.total_seconds()),
        "timeout_seconds": int(policy.BACKUP_TIMEOUT.total_seconds()),
    }
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update()
            .filter(job_name=JOB_NAME, owner=owner, key=SCHEDULE_KEY)
            .first()
        )
        if schedule is None:
            schedule = Schedule(job_name=JOB_NAME, owner=owner, key=SCHEDULE_KEY, **derived)
            schedule.save(now=now)
            logger.info(
                "backup schedule created", extra={"owner_id": owner.pk, "cron": timing.cron_expression}
            )
            return schedule
        changed = [name for name, value in derived.items() if getattr(schedule, name) != value]
        if changed:
            for name in changed:
                setattr(schedule, name, derived[name])
            # A plain save (no update_fields): the engine recomputes next_run_at for a re-timed schedule.
            schedule.save(now=now)
            logger.info("backup schedule updated", extra={"owner_id": owner.pk, "changed": ",".join(changed)})
    return schedule


def sync_all_backup_schedules(*, now: datetime | None = None) -> int:
    """Bring every owner's managed backup Schedule in line with its settings; returns how many owners."""
    count = 0
    for owner in Owner.objects.order_by("pk").iterator():
        sync_backup_schedule(owner, now=now)
        count += 1
    return count


def ensure_backup_schedules(*, now: datetime | None = None) -> int:
    """Create the managed schedule of every owner that has none yet (owner 0 comes from a migration, which
    sends no signal); one query when none is missing. Returns how many were created."""
    managed = Schedule.objects.filter(job_name=JOB_NAME, key=SCHEDULE_KEY).values("owner_id")
    missing = list(Owner.objects.exclude(pk__in=managed).order_by("pk"))
    created = 0
    for owner in missing:
        try:
            sync_backup_schedule(owner, now=now)
        except IntegrityError:
            continue  # another dispatcher created it a moment ago
        created += 1
    return created


def managed_schedule(owner_id: int) -> Schedule | None:
    return Schedule.objects.filter(job_name=JOB_NAME, owner_id=owner_id, key=SCHEDULE_KEY).first()


def request_backup_run(*, owner_id: int, now: datetime) -> JobRun:
    """A manual backup run of the owner, due now, under its managed schedule's policies (overlap: a backup
    already running makes it a skip); a worker takes it like any run."""
    return run_now(job_name=JOB_NAME, owner_id=owner_id, schedule=managed_schedule(owner_id), now=now)


def owners_inheriting(key: str) -> list[int]:
    """Owners (besides the global one) without their own value for ``key``."""
    own = OwnerSetting.objects.filter(key=key).values("owner_id")
    return list(Owner.objects.exclude(pk=GLOBAL_OWNER_ID).exclude(pk__in=own).values_list("pk", flat=True))


def on_owner_setting_changed(sender, owner_id: int, key: str, **kwargs) -> None:
    """Receiver for ``owner_setting_changed`` (sent after commit)."""
    if key not in SCHEDULE_KEYS:
        return
    affected = [owner_id]
    if owner_id == GLOBAL_OWNER_ID:
        affected += owners_inheriting(key)
    for affected_id in affected:
        _sync_if_present(affected_id)


def on_owner_saved(sender, instance: Owner, raw: bool = False, **kwargs) -> None:
    """Receiver for Owner's post_save: a new owner gets its schedule, a new time zone re-derives it."""
    if raw:
        return  # loaddata: the fixture brings its own schedules
    transaction.on_commit(lambda: _sync_if_present(instance.pk))


def _sync_if_present(owner_id: int) -> None:
    # The owner may have been deleted by the time the transaction that saved it committed.
    if Owner.objects.filter(pk=owner_id).exists():
        sync_backup_schedule(owner_id)

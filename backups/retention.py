"""Which backups to keep: keep-last-N plus daily, weekly and monthly buckets, combined like restic's `forget`.

The decision is a pure function over (id, time, status) records so it can be tested on years of generated
history; ``apply_retention`` loads an owner's rows, applies the decision and removes what is no longer kept.
Only verified backups count as good; a failed backup never fills a bucket, and its partial object (if the
engine left one) is deleted.
"""

import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from backups.errors import BackupError
from backups.models import Backup, BackupStateError
from backups.owner_settings import (
    RETENTION_KEEP_DAILY,
    RETENTION_KEEP_LAST,
    RETENTION_KEEP_MONTHLY,
    RETENTION_KEEP_WEEKLY,
)
from backups.storage import delete_object
from tenants import owner_settings
from tenants.models import Owner

logger = logging.getLogger(__name__)


class RetentionCandidate(Protocol):
    pk: int
    started_at: datetime
    status: str


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = RETENTION_KEEP_LAST.default
    keep_daily: int = RETENTION_KEEP_DAILY.default
    keep_weekly: int = RETENTION_KEEP_WEEKLY.default
    keep_monthly: int = RETENTION_KEEP_MONTHLY.default

    @classmethod
    def for_owner(cls, owner_id: int) -> "RetentionPolicy":
        """The owner's effective BACKUP_RETENTION_* settings (own → global owner → default)."""
        keys = (RETENTION_KEEP_LAST, RETENTION_KEEP_DAILY, RETENTION_KEEP_WEEKLY, RETENTION_KEEP_MONTHLY)
        values = owner_settings.resolve_all(owner_id, [key.key for key in keys])
        return cls(
            keep_last=values[RETENTION_KEEP_LAST.key].value,
            keep_daily=values[RETENTION_KEEP_DAILY.key].value,
            keep_weekly=values[RETENTION_KEEP_WEEKLY.key].value,
            keep_monthly=values[RETENTION_KEEP_MONTHLY.key].value,
        )

    def __str__(self) -> str:
        return (
            f"last {self.keep_last}, daily {self.keep_daily}, weekly {self.keep_weekly}, "
            f"monthly {self.keep_monthly}"
        )


@dataclass
class _Bucket:
    reason: str
    remaining: int
    key: Callable[[datetime, int], Hashable]
    last: Hashable = field(default=None)


def select_backups_to_keep(
    backups: Iterable[RetentionCandidate], policy: RetentionPolicy, tz: ZoneInfo
) -> dict[int, list[str]]:
    """Ids of the good backups to keep, each with the rules that keep it ("last", "daily", ...).

    Works like restic's ``forget``: good backups are walked newest first; each rule keeps a backup when it
    opens a bucket (calendar day, ISO week, month in ``tz``; for "last", every backup) that the rule has
    not seen yet, until the rule's count is used up. A backup kept by any rule is kept. Backups that are not
    good (running, failed, unverified, pruned) are never kept by a rule and never fill a bucket. The newest
    good backup is always kept, whatever the policy says.
    """
    good = sorted(
        (backup for backup in backups if backup.status == Backup.Status.VERIFIED),
        key=lambda backup: (backup.started_at, backup.pk),
        reverse=True,
    )
    buckets = [
        _Bucket("last", policy.keep_last, lambda when, index: index),
        _Bucket("daily", policy.keep_daily, lambda when, index: when.date()),
        _Bucket("weekly", policy.keep_weekly, lambda when, index: when.isocalendar()[:2]),
        _Bucket("monthly", policy.keep_monthly, lambda when, index: (when.year, when.month)),
    ]
    kept: dict[int, list[str]] = {}
    for index, backup in enumerate(good):
        local = backup.started_at.astimezone(tz)
        for bucket in buckets:
            if bucket.remaining <= 0:
                continue
            key = bucket.key(local, index)
            if key != bucket.last:
                bucket.last = key
                bucket.remaining -= 1
                kept.setdefault(backup.pk, []).append(bucket.reason)
    if good and good[0].pk not in kept:
        kept[good[0].pk] = ["newest"]
    return kept


@dataclass
class RetentionResult:
    owner_id: int
    policy: RetentionPolicy
    kept: dict[int, list[str]]
    pruned: list[int] = field(default_factory=list)
    failed_objects_deleted: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False


def apply_retention(
    *, owner_id: int, dry_run: bool = False, storage=None, now: datetime | None = None
) -> RetentionResult:
    """Prune one owner's backups by its retention settings: delete objects, then mark the rows pruned.

    Good backups outside every rule become ``pruned``; failed backups get their partial object deleted
    (their row stays ``failed`` as history). Running and unverified backups are left alone. An object that
    cannot be deleted leaves its row as it was and is reported in ``errors``, so the next run retries it.
    """
    now = now or timezone.now()
    owner = Owner.objects.get(pk=owner_id)
    policy = RetentionPolicy.for_owner(owner_id)
    candidates = list(
        Backup.objects.filter(owner_id=owner_id, status=Backup.Status.VERIFIED).only(
            "pk", "started_at", "status", "storage_key"
        )
    )
    kept = select_backups_to_keep(candidates, policy, owner.zone)
    result = RetentionResult(owner_id=owner_id, policy=policy, kept=kept, dry_run=dry_run)
    doomed = [backup for backup in candidates if backup.pk not in kept]
    failed = list(
        Backup.objects.filter(owner_id=owner_id, status=Backup.Status.FAILED, pruned_at__isnull=True)
        .exclude(storage_key="")
        .only("pk", "started_at", "status", "storage_key", "finished_at")
    )
    if dry_run:
        result.pruned = [backup.pk for backup in doomed]
        result.failed_objects_deleted = [backup.pk for backup in failed]
        return result

    for backup in doomed:
        try:
            delete_object(backup.storage_key, storage=storage)
            with transaction.atomic():
                backup.mark_pruned(now=now)
        except (BackupError, BackupStateError) as error:
            result.errors.append(f"backup #{backup.pk}: {error}")
            continue
        result.pruned.append(backup.pk)
    for backup in failed:
        try:
            delete_object(backup.storage_key, storage=storage)
            backup.mark_partial_object_deleted(now=now)
        except (BackupError, BackupStateError) as error:
            result.errors.append(f"backup #{backup.pk}: {error}")
            continue
        result.failed_objects_deleted.append(backup.pk)
    if result.pruned or result.errors:
        logger.info(
            "backup retention applied",
            extra={"owner_id": owner_id, "pruned": len(result.pruned), "errors": len(result.errors)},
        )
    return result

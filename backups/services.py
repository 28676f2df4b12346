"""Taking one owner's backup end to end: claim the owner, dump, verify, record, prune; and the reaper.

The partial unique index on ``Backup`` (one running backup per owner) is the guard against overlap: whoever
inserts the running row owns the backup; everyone else gets a "skipped" outcome naming the running one.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from backups.engines import TENANT_EXPORT
from backups.errors import BackupError, RestoreRefused, VerificationFailed, scrub
from backups.models import Backup, BackupStateError
from backups.pipeline import Artifact, create_backup, restore_backup, verify_backup
from backups.retention import RetentionResult, apply_retention
from backups.storage import delete_object, discard_partial_uploads
from jobs.beats import PeriodicBeat
from jobs.context import RunCancelled
from jobs.models import JobRun

logger = logging.getLogger(__name__)

DEFAULT_CODEC = "zstd"


@dataclass
class BackupOutcome:
    """What became of one request to back up an owner."""

    owner_id: int
    skipped: bool = False
    reason: str = ""
    backup: Backup | None = None
    retention: RetentionResult | None = None
    running_backup_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The small JSON-able dict stored on the JobRun."""
        if self.skipped:
            return {
                "skipped": True,
                "reason": self.reason,
                "owner_id": self.owner_id,
                "running_backup_id": self.running_backup_id,
            }
        backup = self.backup
        summary = {
            "backup_id": backup.pk,
            "owner_id": self.owner_id,
            "status": backup.status,
            "size": backup.size,
            "sha256": backup.sha256,
            "duration_seconds": round(backup.duration.total_seconds(), 3) if backup.duration else None,
            "engine": backup.engine,
            "codec": backup.codec,
        }
        if self.retention is not None:
            summary["pruned"] = self.retention.pruned
        if self.warnings:
            summary["warnings"] = self.warnings
        return summary


def storage_key_for(backup: Backup) -> str:
    """Where a backup's object lives: grouped per owner, sortable by time, unique by id."""
    return f"owner-{backup.owner_id}/{backup.started_at:%Y%m%dT%H%M%SZ}-backup-{backup.pk}"


def claim_backup(
    *, owner_id: int, job_run_id: int | None = None, now: datetime | None = None
) -> Backup | None:
    """Insert the owner's running backup row, or return None when another backup of the owner is running."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            backup = Backup.objects.create(
                owner_id=owner_id,
                scope=Backup.scope_for(owner_id),
                status=Backup.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                job_run_id=job_run_id,
            )
            backup.storage_key = storage_key_for(backup)
            backup.save(update_fields=["storage_key"])
    except IntegrityError:
        return None
    return backup


def take_backup(
    *,
    owner_id: int,
    job_run_id: int | None = None,
    storage=None,
    codec: str = DEFAULT_CODEC,
    progress: Callable[..., None] | None = None,
    check: Callable[[], None] | None = None,
    prune: bool = True,
    now: datetime | None = None,
) -> BackupOutcome:
    """Back up one owner: dump to storage, verify, record, then apply retention.

    Returns a skipped outcome when another backup of the owner is running (the database decides). Raises
    BackupError (after marking the row failed) when the dump or its verification fails; a backup never
    reaches ``verified`` unless its stored object was re-read and matched. ``check`` is called between
    chunks (a run passes ``ctx.raise_if_cancelled``): ``RunCancelled`` aborts the upload and leaves the row
    ``interrupted``. Without a run (``job_run_id`` None) the row is beaten from a thread like a run, so a
    killed process's backup is reaped after JOBS_LOST_AFTER_SECONDS; if it is reaped meanwhile, this stops.
    """
    reap_abandoned_backups(owner_id=owner_id, now=now)
    backup = claim_backup(owner_id=owner_id, job_run_id=job_run_id, now=now)
    if backup is None:
        running = Backup.objects.filter(owner_id=owner_id, status=Backup.Status.RUNNING).first()
        running_id = running.pk if running else None
        return BackupOutcome(
            owner_id=owner_id,
            skipped=True,
            running_backup_id=running_id,
            reason=f"backup #{running_id} of owner {owner_id} is still running",
        )

    logger.info("backup started", extra={"owner_id": owner_id, "backup_id": backup.pk})
    reaped = threading.Event()
    beating = nullcontext() if job_run_id is not None else _beating(backup, reaped)
    try:
        with beating:
            artifact = create_backup(
                owner_id=owner_id,
                storage_key=backup.storage_key,
                storage=storage,
                codec=codec,
                progress=progress,
                check=_checking(check, backup, reaped),
            )
            backup.mark_succeeded(
                size=artifact.size,
                sha256=artifact.sha256,
                engine=artifact.engine,
                codec=artifact.codec,
                format=artifact.format,
            )
            verify_recorded_backup(backup, storage=storage)
    except RunCancelled as cancelled:
        _interrupt(backup, f"cancelled: {cancelled or 'its run was cancelled'}; the upload was aborted")
        raise
    except BackupError as error:
        _fail(backup, str(error))
        raise
    except BaseException as error:
        # Anything unexpected (a bug, KeyboardInterrupt, SystemExit) still leaves the row failed, not running.
        _fail(backup, f"{type(error).__name__}: {scrub(str(error))}")
        raise

    outcome = BackupOutcome(owner_id=owner_id, backup=backup)
    if prune:
        outcome.retention = apply_retention(owner_id=owner_id, storage=storage)
        outcome.warnings.extend(outcome.retention.errors)
    logger.info(
        "backup verified",
        extra={"owner_id": owner_id, "backup_id": backup.pk, "size": backup.size},
    )
    return outcome


def _beating(backup: Backup, reaped: threading.Event) -> PeriodicBeat:
    return PeriodicBeat(
        lambda: backup.beat(now=timezone.now()),
        every=settings.JOBS_HEARTBEAT_SECONDS,
        name=f"backup-{backup.pk}",
        on_refused=reaped.set,
    )


def _checking(
    check: Callable[[], None] | None, backup: Backup, reaped: threading.Event
) -> Callable[[], None]:
    def between_chunks() -> None:
        if reaped.is_set():
            raise BackupError(f"Backup #{backup.pk} was reaped as abandoned meanwhile; it stops here.")
        if check is not None:
            check()

    return between_chunks


def verify_recorded_backup(backup: Backup, *, storage=None, restore: bool = False):
    """Re-read a stored backup and check it; marks it verified, or failed and raises VerificationFailed."""
    if backup.status not in (Backup.Status.SUCCEEDED, Backup.Status.VERIFIED):
        raise VerificationFailed(
            f"Backup #{backup.pk} is {backup.status}; only a stored backup can be verified."
        )
    try:
        report = verify_backup(artifact=artifact_of(backup), storage=storage, restore=restore)
    except VerificationFailed as error:
        backup.mark_failed(f"verification failed: {error}")
        raise
    if not report.ok:
        message = f"verification failed: {report.error or 'the stored object does not match its record'}"
        backup.mark_failed(message)
        raise VerificationFailed(message)
    backup.mark_verified()
    return report


def restore_recorded_backup(
    backup: Backup, *, target_db_url: str | None = None, force: bool = False, progress=None, storage=None
):
    """Restore a good backup into ``target_db_url`` (None = the configured database, which needs force)."""
    if backup.status not in (Backup.Status.SUCCEEDED, Backup.Status.VERIFIED):
        raise BackupError(f"Backup #{backup.pk} is {backup.status}; only a stored backup can be restored.")
    return restore_backup(
        artifact=artifact_of(backup),
        storage=storage,
        target_db_url=target_db_url,
        force=force,
        progress=progress,
    )


@dataclass
class LiveRestoreOutcome:
    """A tenant export restored over its owner's live rows, and the backup taken of them just before."""

    report: object  # backups.restore.RestoreReport
    safety_backup: Backup


def restore_over_live_owner(
    backup: Backup, *, storage=None, now: datetime | None = None
) -> LiveRestoreOutcome:
    """Replace one owner's live rows with ``backup`` (that owner's export), after backing them up.

    The safety backup of the owner is taken and verified first; if it is skipped (another backup of the
    owner is running) or fails, nothing is restored. Only tenant exports qualify: a whole-database
    backup never goes over the live database this way. Raises ``RestoreRefused`` or another BackupError.
    """
    if backup.engine != TENANT_EXPORT:
        raise RestoreRefused(
            "Only an owner's export can be restored over the live database here; restore a whole-database "
            "backup into another database, or over this one from the shell (backup restore --force)."
        )
    if backup.status not in (Backup.Status.SUCCEEDED, Backup.Status.VERIFIED):
        raise BackupError(f"Backup #{backup.pk} is {backup.status}; only a stored backup can be restored.")
    safety = take_backup(owner_id=backup.owner_id, storage=storage, prune=False, now=now)
    if safety.skipped:
        raise RestoreRefused(
            f"Nothing restored: the safety backup comes first and {safety.reason}; try again when it ends."
        )
    report = restore_recorded_backup(backup, force=True, storage=storage)
    logger.info(
        "backup restored over live rows",
        extra={"backup_id": backup.pk, "owner_id": backup.owner_id, "safety_backup_id": safety.backup.pk},
    )
    return LiveRestoreOutcome(report=report, safety_backup=safety.backup)


def describe_restore(report) -> str:
    """One line about a finished restore, without credentials or the live database's location."""
    rows = sum(getattr(report, "row_counts", {}).values())
    text = f"restored into {report.target}, {report.bytes_read} stored bytes read"
    if rows:
        text = f"{text}, {rows} rows"
    interrupted = getattr(report, "interrupted_backups", 0)
    if interrupted:
        text = f"{text}; {interrupted} backup(s) unfinished in the dump marked interrupted there"
    return text


def delete_recorded_backup(backup: Backup, *, storage=None) -> None:
    """Delete a backup's stored object and its row (the admin's delete action).

    An interrupted backup has no object of its own (its upload was aborted, or, in a restored copy, the
    object under its key belongs to the source database): only its row goes.
    """
    if backup.status == Backup.Status.RUNNING:
        raise BackupError(f"Backup #{backup.pk} is still running; it cannot be deleted now.")
    if backup.storage_key and backup.status not in (Backup.Status.PRUNED, Backup.Status.INTERRUPTED):
        delete_object(backup.storage_key, storage=storage)
    backup.delete()


def artifact_of(backup: Backup):
    """The engine's view of a recorded backup."""
    return Artifact(
        storage_key=backup.storage_key,
        size=backup.size,
        sha256=backup.sha256,
        engine=backup.engine,
        codec=backup.codec,
        format=backup.format,
    )


def reap_abandoned_backups(
    *, owner_id: int | None = None, storage=None, now: datetime | None = None
) -> list[int]:
    """Mark failed the backups left unfinished by a process that died, and delete their (partial) objects.

    A backup left ``running`` (or stored but never verified, ``succeeded``) is abandoned when its JobRun
    has finished without it (lost, failed, timed out, ...), when that run's heartbeat is older than
    JOBS_LOST_AFTER_SECONDS, or, for a backup started without a run (``backup now --wait``), when its own
    heartbeat is that old. Its unfinished upload is aborted at once. Returns the reaped ids.
    """
    now = now or timezone.now()
    stale_heartbeat = now - timedelta(seconds=settings.JOBS_LOST_AFTER_SECONDS)
    # A "succeeded" row is a stored but unverified backup; one whose process died before verifying is
    # as unusable as a half-written one (only verified backups count), and its object would never be pruned.
    abandoned = Backup.objects.filter(status__in=Backup.UNFINISHED).filter(
        Q(job_run__status__in=JobRun.FINISHED)
        | Q(job_run__status=JobRun.Status.RUNNING, job_run__heartbeat_at__lt=stale_heartbeat)
        | Q(job_run__isnull=True, heartbeat_at__lt=stale_heartbeat)
        | Q(job_run__isnull=True, heartbeat_at__isnull=True, started_at__lt=stale_heartbeat)
    )
    if owner_id is not None:
        abandoned = abandoned.filter(owner_id=owner_id)
    reaped = []
    for backup in abandoned.select_related("job_run"):
        run = backup.job_run
        reason = (
            f"its run #{run.pk} ended as {run.status}" if run else "its process stopped sending heartbeats"
        )
        if run is not None and run.status == JobRun.Status.RUNNING:
            reason = f"its run #{run.pk} stopped sending heartbeats"
        try:
            backup.mark_failed(f"abandoned: {reason} before the backup was verified", now=now)
        except BackupStateError:
            continue  # it finished (or was reaped elsewhere) in the meantime
        reaped.append(backup.pk)
        if backup.storage_key:
            try:
                discard_partial_uploads(backup.storage_key, storage=storage)
                delete_object(backup.storage_key, storage=storage)
                backup.mark_partial_object_deleted(now=now)
            except BackupError as error:
                # The row is failed either way; retention retries the object later.
                logger.warning(
                    "partial backup object not deleted", extra={"backup_id": backup.pk, "error": str(error)}
                )
        logger.warning("abandoned backup reaped", extra={"backup_id": backup.pk, "owner_id": backup.owner_id})
    return reaped


def on_housekeeping(sender, *, now: datetime, **kwargs) -> None:
    """Receiver for the engine's ``housekeeping`` signal: reap abandoned backups of every owner."""
    reap_abandoned_backups(now=now)


def _interrupt(backup: Backup, message: str) -> None:
    try:
        backup.mark_interrupted(message)
    except BackupStateError:
        logger.warning("backup already left running state", extra={"backup_id": backup.pk})


def _fail(backup: Backup, message: str) -> None:
    try:
        backup.mark_failed(message)
    except BackupStateError:
        logger.warning("backup already left running state", extra={"backup_id": backup.pk})

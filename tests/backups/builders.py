"""Builders for backup rows, runs and contexts, as the engine and the job would leave them."""

import hashlib
import logging
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from backups.models import Backup
from backups.schedules import sync_backup_schedule
from jobs.models import JobRun
from jobs.registry import JobContext
from tenants.models import Owner


def make_backup(
    owner: Owner,
    *,
    started_at: datetime | None = None,
    status: str = Backup.Status.VERIFIED,
    content: bytes | None = b"backup bytes",
    **fields,
) -> Backup:
    """A recorded backup; with ``content`` its object is written to the "backups" storage as well."""
    backup = Backup.objects.create(
        owner=owner,
        scope=Backup.scope_for(owner.pk),
        status=status,
        started_at=started_at or timezone.now(),
        **fields,
    )
    backup.storage_key = f"owner-{owner.pk}/test-backup-{backup.pk}"
    if status != Backup.Status.RUNNING:
        backup.finished_at = backup.started_at
    if content is not None:
        storages["backups"].save(backup.storage_key, ContentFile(content))
        if status in (Backup.Status.SUCCEEDED, Backup.Status.VERIFIED):
            backup.size = len(content)
            backup.sha256 = hashlib.sha256(content).hexdigest()
            backup.engine, backup.codec, backup.format = "test", "none", "raw"
    backup.save()
    return backup


def make_run(
    owner: Owner,
    *,
    trigger: str = JobRun.Trigger.SCHEDULED,
    slot: datetime | None = None,
    status: str = JobRun.Status.RUNNING,
    with_schedule: bool = True,
    attempt: int = 1,
) -> JobRun:
    """A backups.run JobRun as the runner leaves it while the job executes."""
    slot = slot or timezone.now()
    schedule = sync_backup_schedule(owner) if with_schedule else None
    return JobRun.objects.create(
        schedule=schedule,
        job_name="backups.run",
        owner=owner,
        slot=slot,
        due_at=slot,
        trigger=trigger,
        status=status,
        attempt=attempt,
        started_at=timezone.now() if status == JobRun.Status.RUNNING else None,
        heartbeat_at=timezone.now() if status == JobRun.Status.RUNNING else None,
    )


def context_for(run: JobRun, heartbeat=lambda: None) -> JobContext:
    return JobContext(
        run_id=run.pk,
        job_name=run.job_name,
        owner_id=run.owner_id,
        schedule_id=run.schedule_id,
        slot=run.slot,
        attempt=run.attempt,
        logger=logging.getLogger("tests.backups"),
        heartbeat=heartbeat,
    )


def use_file_storage(settings, directory) -> None:
    """Point STORAGES["backups"] at a directory of the test's own (pytest-django's ``settings`` fixture)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(directory), "file_permissions_mode": 0o600},
        },
    }

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import GLOBAL_OWNER_ID, Owner


class BackupStateError(RuntimeError):
    """A transition was asked of a backup that is no longer in the state it needs (e.g. already reaped)."""


class Backup(models.Model):
    """One backup of one owner: the full database for the global owner, a tenant export for the others.

    Only a ``verified`` backup counts as good: its stored object was re-read and its checksum and archive
    listing matched. At most one backup per owner is ``running`` at a time; the database enforces that.
    """

    class Scope(models.TextChoices):
        DATABASE = "database", "Full database"
        TENANT = "tenant", "Tenant export"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded (not verified)"
        FAILED = "failed", "Failed"
        VERIFIED = "verified", "Verified"
        PRUNED = "pruned", "Pruned"
        # Stopped from outside before it was verified: its run was cancelled, or the database was restored
        # from a dump taken while it ran. Its object is left alone: in a restored copy it may be the very
        # backup that was restored, complete and owned by the source database's history.
        INTERRUPTED = "interrupted", "Interrupted"

    UNFINISHED = (Status.RUNNING, Status.SUCCEEDED)

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="backups")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)

    storage_name = models.CharField(max_length=50, default="backups", help_text="An entry of STORAGES.")
    storage_key = models.CharField(max_length=500, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="Stored bytes.")
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    engine = models.CharField(max_length=30, blank=True)
    codec = models.CharField(max_length=10, blank=True)
    format = models.CharField(max_length=30, blank=True)

    started_at = models.DateTimeField(default=timezone.now)
    # Beaten by the process taking a backup outside the engine (``backup now --wait``); a backup inside a
    # run is kept alive by its run's heartbeat instead. Silence for JOBS_LOST_AFTER_SECONDS: abandoned.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    job_run = models.ForeignKey(
        "jobs.JobRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="backups"
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # One running backup per owner: the loser of a race gets an IntegrityError, not a second dump.
            models.UniqueConstraint(
                fields=["owner"], condition=Q(status="running"), name="backup_one_running_per_owner"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-started_at"], name="backup_owner_started_idx"),
            # The reaper's question, every few seconds: which backups are not finished yet.
            models.Index(
                fields=["status"],
                name="backup_unfinished_idx",
                condition=Q(status__in=["running", "succeeded"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Backup #{self.pk} of owner {self.owner_id} ({self.status})"

    @staticmethod
    def scope_for(owner_id: int) -> str:
        return Backup.Scope.DATABASE if owner_id == GLOBAL_OWNER_ID else Backup.Scope.TENANT

    def mark_succeeded(
        self, *, size: int, sha256: str, engine: str, codec: str, format: str, now: datetime | None = None
    ) -> None:
        """Record a stored object. Raises BackupStateError if the row stopped running meanwhile (reaped)."""
        now = now or timezone.now()
        self._transition(
            {self.Status.RUNNING},
            status=self.Status.SUCCEEDED,
            size=size,
            sha256=sha256,
            engine=engine,
            codec=codec,
            format=format,
            finished_at=now,
            duration=now - self.started_at,
            error="",
        )

    def mark_failed(self, error: str, *, now: datetime | None = None) -> None:
        """A running backup failed, or a stored one failed (re-)verification: it no longer counts as good."""
        now = now or timezone.now()
        fields = {"status": self.Status.FAILED, "error": error[:2000]}
        if self.finished_at is None:
            fields.update(finished_at=now, duration=now - self.started_at)
        self._transition({self.Status.RUNNING, self.Status.SUCCEEDED, self.Status.VERIFIED}, **fields)

    def mark_verified(self, *, now: datetime | None = None) -> None:
        self._transition(
            {self.Status.SUCCEEDED, self.Status.VERIFIED},
            status=self.Status.VERIFIED,
            verified_at=now or timezone.now(),
        )

    def mark_pruned(self, *, now: datetime | None = None) -> None:
        """Retention removed the stored object (or there was none to keep)."""
        self._transition(
            {self.Status.SUCCEEDED, self.Status.VERIFIED, self.Status.FAILED},
            status=self.Status.PRUNED,
            pruned_at=now or timezone.now(),
        )

    def mark_interrupted(self, reason: str, *, now: datetime | None = None) -> None:
        """Stopped from outside (its run was cancelled) before it was verified; its upload was aborted."""
        now = now or timezone.now()
        self._transition(
            set(self.UNFINISHED),
            status=self.Status.INTERRUPTED,
            error=reason[:2000],
            finished_at=now,
            duration=now - self.started_at,
        )

    def beat(self, *, now: datetime) -> bool:
        """Prove the process taking this backup alive; False once the row is no longer unfinished (reaped)."""
        beaten = Backup.objects.filter(pk=self.pk, status__in=self.UNFINISHED).update(heartbeat_at=now)
        if beaten:
            self.heartbeat_at = now
        return bool(beaten)

    @classmethod
    def interrupt_unfinished(cls, *, using: str, now: datetime, reason: str) -> int:
        """Mark every unfinished backup in database ``using`` interrupted (after restoring a full dump,
        whose own backup row was running when it was taken); returns how many."""
        return (
            cls.objects.using(using)
            .filter(status__in=cls.UNFINISHED)
            .update(status=cls.Status.INTERRUPTED, error=reason[:2000], finished_at=now)
        )

    def mark_partial_object_deleted(self, *, now: datetime | None = None) -> None:
        """A failed backup's partial object is gone; the row stays ``failed`` as history."""
        self._transition({self.Status.FAILED}, pruned_at=now or timezone.now())

    def _transition(self, allowed: set[str], **fields) -> None:
        # A conditional UPDATE, so a row the reaper failed meanwhile cannot be flipped back to succeeded.
        updated = Backup.objects.filter(pk=self.pk, status__in=allowed).update(**fields)
        if not updated:
            current = Backup.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            raise BackupStateError(
                f"Backup #{self.pk} is {current or 'gone'}, not {' or '.join(sorted(allowed))}."
            )
        for name, value in fields.items():
            setattr(self, name, value)

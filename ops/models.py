from django.db import models

from jobs.models import JobRun, Schedule
from tenants.models import GLOBAL_OWNER_ID, Owner


class MissedRunAlert(models.Model):
    """A schedule's expected run that did not start within its grace period, reported once.

    The unique (schedule, expected_at) pair is what makes "once" hold even when two checkers race:
    the second insert conflicts and sends nothing.
    """

    class Kind(models.TextChoices):
        NOT_DISPATCHED = "not_dispatched", "Not dispatched (no run was created for the slot)"
        NOT_STARTED = "not_started", "Not started (the run waited in the queue)"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="missed_run_alerts")
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="missed_run_alerts")
    run = models.ForeignKey(JobRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    job_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    expected_at = models.DateTimeField(help_text="The slot that should have started (UTC).")
    detected_at = models.DateTimeField()
    # Set when the alert was handed to the owner's outbox (notifications), in the same transaction;
    # reported_to is the contact address at that time (blank: none, the outbox skips the message).
    reported_at = models.DateTimeField(null=True, blank=True)
    reported_to = models.EmailField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "expected_at"], name="missedrunalert_unique_slot"),
        ]
        indexes = [
            models.Index(fields=["owner", "-detected_at"], name="missedrunalert_owner_idx"),
            models.Index(
                fields=["expected_at"],
                name="missedrunalert_pending_idx",
                condition=models.Q(reported_at__isnull=True),
            ),
        ]
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.job_name} missed {self.expected_at:%Y-%m-%d %H:%M} UTC ({self.get_kind_display()})"


class OwnerTier(models.TextChoices):
    """The owner label of run metrics: two values, whatever the number of owners."""

    GLOBAL = "global", "Global owner"
    TENANT = "tenant", "Tenant"

    @classmethod
    def of(cls, owner_id: int) -> "OwnerTier":
        return cls.GLOBAL if owner_id == GLOBAL_OWNER_ID else cls.TENANT


class RunEvent(models.Model):
    """A run started or finished: appended by database triggers on the runs table (migration 0002).

    Append-only on the engine's hot path (no row is locked, whatever runs in parallel); the metrics rollup
    (``ops.run_metrics``) folds the events into ``RunCount`` and ``RunHistogram`` and deletes them.
    """

    class Kind(models.TextChoices):
        STARTED = "started", "Started"
        FINISHED = "finished", "Finished"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    job_name = models.CharField(max_length=200)
    # A copy of the run's owner, not a foreign key: an event cascades nowhere and is gone within a minute.
    owner_id = models.BigIntegerField()
    status = models.CharField(max_length=10, blank=True)
    # Started: seconds from due time to start (lateness). Finished: the run's duration (None if it never ran).
    seconds = models.FloatField(null=True)

    def __str__(self) -> str:
        return f"{self.job_name} {self.kind} {self.status}".strip()


class RunCount(models.Model):
    """How many runs of a job finished with a status, per owner tier, since metrics were installed."""

    job_name = models.CharField(max_length=200)
    owner_tier = models.CharField(max_length=10, choices=OwnerTier.choices)
    status = models.CharField(max_length=10)
    runs = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job_name", "owner_tier", "status"], name="runcount_unique_series"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} {self.owner_tier} {self.status}: {self.runs}"


class RunHistogram(models.Model):
    """Bucket counts of one job's lateness or duration, per owner tier, since metrics were installed.

    ``buckets[i]`` counts the values in ``(bounds[i-1], bounds[i]]``; one more entry counts those above the
    last bound. ``bounds`` is stored with the counts, so changing the code's buckets starts a new histogram
    instead of mixing two.
    """

    class Metric(models.TextChoices):
        LATENESS = "lateness", "Lateness (due time to start)"
        DURATION = "duration", "Duration"

    job_name = models.CharField(max_length=200)
    owner_tier = models.CharField(max_length=10, choices=OwnerTier.choices)
    metric = models.CharField(max_length=10, choices=Metric.choices)
    bounds = models.JSONField(default=list)
    buckets = models.JSONField(default=list)
    count = models.BigIntegerField(default=0)
    total_seconds = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job_name", "owner_tier", "metric"], name="runhistogram_unique_series"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} {self.owner_tier} {self.metric}: {self.count}"

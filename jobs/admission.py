"""Whether a run that is due may start now: the overlap policy, applied to runs still in flight."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.enqueue import new_task_id
from jobs.models import JobRun
from jobs.policies import OverlapPolicy
from jobs.registry import UnknownJobError
from jobs.retries import RunPolicy

# A run queued behind a busy one is promoted by the runner when that one ends; this is the backstop.
QUEUE_RECHECK = timedelta(seconds=30)
SKIPPED_MESSAGE = "Skipped: the previous run of this schedule was still queued or running."
SWITCHED_OFF_MESSAGE = "Cancelled: the job is switched off."


def in_flight_schedule_ids(schedule_ids: list[int]) -> set[int]:
    """Schedules among ``schedule_ids`` with a run queued or running."""
    if not schedule_ids:
        return set()
    return set(
        JobRun.objects.filter(schedule_id__in=schedule_ids, status__in=JobRun.IN_FLIGHT)
        .values_list("schedule_id", flat=True)
        .distinct()
    )


@dataclass
class Admission:
    """Decides the status of due runs for one claim, remembering what it let in along the way."""

    now: datetime
    busy_schedule_ids: set[int]
    to_enqueue: list[tuple[JobRun, int | None]] = field(default_factory=list)
    follow_ups: list[JobRun] = field(default_factory=list)

    def admit(self, run: JobRun, policy: RunPolicy, next_regular_slot: datetime | None) -> None:
        """Set ``run`` to queued, skipped or (queued behind a busy run) scheduled; collect what follows."""
        busy = run.schedule_id is not None and run.schedule_id in self.busy_schedule_ids
        if busy and policy.overlap == OverlapPolicy.QUEUE:
            run.status = JobRun.Status.SCHEDULED
            run.due_at = self.now + QUEUE_RECHECK
        elif busy and policy.overlap in (OverlapPolicy.SKIP, OverlapPolicy.SKIP_AND_RETRY):
            self.finish(run, JobRun.Status.SKIPPED, SKIPPED_MESSAGE)
            if policy.overlap == OverlapPolicy.SKIP_AND_RETRY:
                self._retry_later(run, policy, next_regular_slot)
        else:
            run.status = JobRun.Status.QUEUED
            run.queued_at = self.now
            run.task_id = new_task_id()
            if run.schedule_id is not None:
                self.busy_schedule_ids.add(run.schedule_id)
            self.to_enqueue.append((run, policy.timeout_seconds))

    def refuse_unknown(self, run: JobRun) -> None:
        self.finish(run, JobRun.Status.FAILED, str(UnknownJobError(run.job_name)))

    def cancel_switched_off(self, run: JobRun) -> None:
        self.finish(run, JobRun.Status.CANCELLED, SWITCHED_OFF_MESSAGE)

    def finish(self, run: JobRun, status: str, message: str) -> None:
        run.status = status
        run.finished_at = self.now
        run.error = message

    def _retry_later(self, run: JobRun, policy: RunPolicy, next_regular_slot: datetime | None) -> None:
        retry_at = self.now + policy.overlap_retry_delay
        # The next regular slot tries again anyway; a retry after it would only pile up.
        if next_regular_slot is not None and next_regular_slot <= retry_at:
            return
        self.follow_ups.append(run.next_attempt(due_at=retry_at))

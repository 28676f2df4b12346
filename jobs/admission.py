"""Whether a run that is due may start now: the overlap policy, applied to runs still in flight.

Every run reaching the admission is ``scheduled`` and either new or locked by the claim; its change is
made in memory through ``JobRun``'s transitions (``held=True``) and written by the dispatcher in one batch.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.handoff import new_task_id
from jobs.models import JobRun
from jobs.policies import OverlapPolicy
from jobs.retries import RunPolicy, recheck_after_skip

# A run queued behind a busy one is promoted by the runner when that one ends; this is the backstop.
QUEUE_RECHECK = timedelta(seconds=30)
SKIPPED_MESSAGE = "Skipped: the previous run of this schedule was still queued or running."
SWITCHED_OFF_MESSAGE = "Cancelled: the job is switched off."
REPLACED_MESSAGE = (
    "Cancelled: replaced by the run of slot {slot:%Y-%m-%d %H:%M:%S} UTC (overlap policy replace)."
)


def in_flight_schedule_ids(schedule_ids: list[int]) -> set[int]:
    """Schedules among ``schedule_ids`` with a run queued or running."""
    if not schedule_ids:
        return set()
    return set(
        JobRun.objects.filter(schedule_id__in=schedule_ids, status__in=JobRun.IN_FLIGHT)
        .values_list("schedule_id", flat=True)
        .distinct()
    )


def replace_in_flight(*, schedule_id: int, now: datetime, reason: str) -> int:
    """Cancel what a schedule has in flight: queued runs (and runs waiting behind) at once, running ones by
    asking their workers. Returns how many are still running (they end within one heartbeat)."""
    still_running = 0
    waiting = JobRun.objects.filter(schedule_id=schedule_id).filter(
        status__in=JobRun.IN_FLIGHT
    ) | JobRun.objects.filter(
        schedule_id=schedule_id,
        status=JobRun.Status.SCHEDULED,
        trigger=JobRun.Trigger.SCHEDULED,
        due_at__gt=now,
    )
    for run in waiting.only("pk", "status", "started_at", "cancel_requested_at"):
        if run.status == JobRun.Status.RUNNING:
            run.request_cancel(now=now, reason=reason)
            still_running += 1
        elif not run.cancel(now=now, reason=reason):
            still_running += 1  # it started meanwhile; its worker sees the request at its next heartbeat
            run.request_cancel(now=now, reason=reason)
    return still_running


@dataclass
class Admission:
    """Decides the status of due runs for one claim, remembering what it let in along the way."""

    now: datetime
    busy_schedule_ids: set[int]
    to_enqueue: list[tuple[JobRun, int | None]] = field(default_factory=list)
    follow_ups: list[JobRun] = field(default_factory=list)
    # Runs of each schedule let in (queued or waiting behind) by this claim, for the replace policy.
    _admitted: dict[int, list[JobRun]] = field(default_factory=dict)

    def admit(self, run: JobRun, policy: RunPolicy, next_regular_slot: datetime | None) -> None:
        """Queue ``run``, skip it, or let it wait behind a busy run; collect what follows."""
        busy = run.schedule_id is not None and run.schedule_id in self.busy_schedule_ids
        if busy and policy.overlap == OverlapPolicy.REPLACE:
            busy = self._replace(run)
        if busy and policy.overlap in (OverlapPolicy.QUEUE, OverlapPolicy.REPLACE):
            run.due_at = self.now + QUEUE_RECHECK  # stays scheduled, released when the busy run ends
            self._admitted.setdefault(run.schedule_id, []).append(run)
        elif busy and policy.overlap in (OverlapPolicy.SKIP, OverlapPolicy.SKIP_AND_RETRY):
            run.skip(now=self.now, reason=SKIPPED_MESSAGE, held=True)
            if policy.overlap == OverlapPolicy.SKIP_AND_RETRY:
                recheck = recheck_after_skip(
                    run, now=self.now, delay=policy.overlap_retry_delay, next_regular_slot=next_regular_slot
                )
                if recheck is not None:
                    self.follow_ups.append(recheck)
        else:
            run.queue(now=self.now, task_id=new_task_id(), held=True)
            if run.schedule_id is not None:
                self.busy_schedule_ids.add(run.schedule_id)
                self._admitted.setdefault(run.schedule_id, []).append(run)
            self.to_enqueue.append((run, policy.timeout_seconds))

    def refuse(self, run: JobRun, reason: str) -> None:
        """Fail ``run`` at the door (``jobs.registry.refusal_of`` says why)."""
        run.fail(now=self.now, error=reason, held=True)

    def cancel_switched_off(self, run: JobRun) -> None:
        run.cancel(now=self.now, reason=SWITCHED_OFF_MESSAGE, held=True)

    def _replace(self, run: JobRun) -> bool:
        """Cancel the schedule's runs in flight for ``run``; True while one of them still has to stop."""
        reason = REPLACED_MESSAGE.format(slot=run.slot)
        # Runs let in earlier by this very claim (several slots at once) are not written yet: they go in
        # as cancelled instead.
        replaced = self._admitted.pop(run.schedule_id, [])
        for earlier in replaced:
            earlier.cancel(now=self.now, reason=reason, held=True)
        self.to_enqueue = [item for item in self.to_enqueue if item[0] not in replaced]
        still_running = replace_in_flight(schedule_id=run.schedule_id, now=self.now, reason=reason)
        if not still_running:
            self.busy_schedule_ids.discard(run.schedule_id)
        return bool(still_running)

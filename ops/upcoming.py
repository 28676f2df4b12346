"""The next 24 hours on the dashboard: schedules that fire often as one row each, the other fire times in
pages.

A schedule with more than ``FREQUENT_AFTER`` fire times in the horizon (more often than every two hours
over a day: every minute, hourly) would fill the list; it becomes one row ("Every minute", next at …,
about 1,440 runs). The other fire times are merged soonest first and shown a page at a time.

Bounded whatever the number of schedules: one query for the ``limit`` schedules due soonest (the
dispatcher's own ``next_run_at`` index), then a merge that computes a schedule's following slot only when
its current one is taken, so at most ``limit`` fire times plus ``FREQUENT_AFTER`` per frequent schedule
are computed. Fire times beyond the first ``limit`` are not listed (the page says so).
"""

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs import triggers
from jobs.models import Schedule
from ops.dashboard import scoped

HORIZON = timedelta(hours=24)
FREQUENT_AFTER = 12
PER_PAGE = 25
LIMIT = 200


@dataclass(frozen=True)
class UpcomingRun:
    at: datetime
    schedule: Schedule


@dataclass(frozen=True)
class FrequentSchedule:
    schedule: Schedule
    next_at: datetime
    about: int  # fire times in the horizon, estimated from the first ones

    @property
    def every(self) -> str:
        """How often, in words ("Every minute"; a cron expression's description with its zone)."""
        if self.schedule.trigger_kind == triggers.INTERVAL:
            return triggers.describe_interval(self.schedule.interval_seconds)
        return triggers.describe_trigger(self.schedule)


@dataclass(frozen=True)
class Upcoming:
    frequent: list[FrequentSchedule]
    runs: list[UpcomingRun]  # this page's
    listed: list[UpcomingRun]  # every fire time found (for the timeline)
    page: int
    pages: int
    cut_short: bool  # more fire in the horizon than LIMIT lets us list


def upcoming(
    now: datetime,
    owner_ids: set[int] | None,
    *,
    page: int = 1,
    horizon: timedelta = HORIZON,
    per_page: int = PER_PAGE,
    limit: int = LIMIT,
) -> Upcoming:
    """The frequent schedules and page ``page`` of the other fire times between now and ``now + horizon``."""
    end = now + horizon
    schedules = list(
        scoped(Schedule.objects.filter(enabled=True, paused_at__isnull=True, next_run_at__lt=end), owner_ids)
        .select_related("owner")
        .order_by("next_run_at")[:limit]
    )
    # (fire time, position, fire times taken so far); the position breaks ties and finds the schedule.
    pending = [(schedule.next_run_at, position, 0) for position, schedule in enumerate(schedules)]
    heapq.heapify(pending)
    found: list[tuple[datetime, int]] = []
    taken_times: dict[int, list[datetime]] = {}
    frequent: dict[int, FrequentSchedule] = {}
    listed_count = 0
    while pending and listed_count < limit:
        at, position, taken = heapq.heappop(pending)
        schedule = schedules[position]
        found.append((at, position))
        taken_times.setdefault(position, []).append(at)
        listed_count += 1
        following = triggers.next_fire_after(schedule, at)
        if following is None or following >= end:
            continue
        if taken + 1 >= FREQUENT_AFTER:
            frequent[position] = _frequent(schedule, taken_times[position], following, end)
            listed_count -= len(taken_times[position])  # one row of its own instead
            continue
        heapq.heappush(pending, (following, position, taken + 1))
    listed = [UpcomingRun(at, schedules[position]) for at, position in found if position not in frequent]
    pages = max(1, -(-len(listed) // per_page))
    page = min(max(1, page), pages)
    return Upcoming(
        frequent=sorted(frequent.values(), key=lambda item: (item.next_at, item.schedule.pk)),
        runs=listed[(page - 1) * per_page : page * per_page],
        listed=listed,
        page=page,
        pages=pages,
        cut_short=bool(pending),
    )


def _frequent(
    schedule: Schedule, times: list[datetime], following: datetime, end: datetime
) -> FrequentSchedule:
    """One row for a schedule that fires often: its next fire time and about how many fall before ``end``."""
    seen = [*times, following]
    # Measured from the second fire time: the first (next_run_at) may sit off the rhythm's grid.
    gap = (seen[-1] - seen[1]) / (len(seen) - 2)
    about = len(seen) + int((end - following) / gap) if gap else len(seen)
    return FrequentSchedule(schedule=schedule, next_at=times[0], about=about)

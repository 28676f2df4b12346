"""How far ahead of a slot a dispatcher starts its claim: as far as claims of that size have taken lately.

A claim's cost grows with the number of schedules due together: a few milliseconds for one, about half a
second for a thousand on two busy cores (PostgreSQL). A fixed lead either wastes a held transaction on
small claims or is too short for big ones, whose rows then commit after the slot. So the dispatcher
measures every claim it makes with its own clock (preparing it, and committing it) and keeps the recent
ones per size bucket (1, 2-3, 4-7, … due); the lead for the next claim is

    HEADROOM * p95(recent preparations of that size) + p95(recent commits of that size)

bounded below by ``JOBS_DISPATCH_LEAD_MS`` and above by ``JOBS_DISPATCH_LEAD_MAX_MS``. A size never
measured is estimated from the nearest measured bucket, scaled by the size; before any measurement, from
``PRIOR_SECONDS_PER_DUE`` and ``PRIOR_COMMIT_SECONDS_PER_DUE``. The commit allowance is how much before the
slot the claim commits: its runs are handed to the workers at the slot itself (see ``jobs.dispatcher``).
"""

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

Report = TypeVar("Report")

# Recent claims remembered per size bucket.
SAMPLES = 20
# The lead covers this many times the recent p95 preparation: a loaded machine has slower moments.
HEADROOM = 1.5
# Before a claim of about that size was measured: about twice what a claim cost per due schedule on two
# busy cores, to prepare (~0.5 ms) and to commit (~25 µs: a thousand rows' commit took 20-55 ms).
PRIOR_SECONDS_PER_DUE = 0.001
PRIOR_COMMIT_SECONDS_PER_DUE = 0.00005


def size_bucket(due: int) -> int:
    """The bucket of a claim of ``due`` schedules: 1 -> 1, 2-3 -> 2, 4-7 -> 3, ..., 512-1023 -> 10."""
    return max(due, 1).bit_length()


def p95(samples: deque[float]) -> float:
    ordered = sorted(samples)
    return ordered[round(0.95 * (len(ordered) - 1))]


class ClaimTimes:
    """The recent claims of one dispatcher, and the lead they call for (seconds throughout)."""

    def __init__(self, *, floor: float, ceiling: float) -> None:
        self.floor = floor
        self.ceiling = max(ceiling, floor)
        self._preparations: dict[int, deque[float]] = {}
        self._commits: dict[int, deque[float]] = {}

    @property
    def adaptive(self) -> bool:
        """Whether the lead follows the claims (off when the ceiling is the floor, e.g. on SQLite)."""
        return self.ceiling > self.floor

    def record(self, due: int, *, preparation: float, commit: float) -> None:
        """One claim of ``due`` schedules took ``preparation`` seconds to prepare and ``commit`` to commit."""
        bucket = size_bucket(due)
        self._preparations.setdefault(bucket, deque(maxlen=SAMPLES)).append(max(preparation, 0.0))
        self._commits.setdefault(bucket, deque(maxlen=SAMPLES)).append(max(commit, 0.0))

    def commit_allowance(self, due: int) -> float:
        """How long before the slot a held claim of ``due`` schedules commits (its expected commit)."""
        if not self.adaptive:
            return 0.0
        return min(_expected(self._commits, due, PRIOR_COMMIT_SECONDS_PER_DUE), self.ceiling / 2)

    def lead_for(self, due: int) -> float:
        """How long before the slot to start a claim of ``due`` schedules."""
        if not self.adaptive:
            return self.floor
        needed = HEADROOM * self.preparation_for(due) + self.commit_allowance(due)
        return min(max(needed, self.floor), self.ceiling)

    def preparation_for(self, due: int) -> float:
        """The expected preparation of a claim of ``due`` schedules (p95 of its bucket, or estimated)."""
        return _expected(self._preparations, due, PRIOR_SECONDS_PER_DUE)


def _expected(by_bucket: dict[int, deque[float]], due: int, prior_per_due: float) -> float:
    """p95 of the bucket of ``due``; else the nearest measured bucket's scaled to the size; else the prior."""
    bucket = size_bucket(due)
    if bucket in by_bucket:
        return p95(by_bucket[bucket])
    if not by_bucket:
        return prior_per_due * due
    nearest = min(by_bucket, key=lambda measured: (abs(measured - bucket), -measured))
    # Buckets double in size, and a claim's cost grows with its size.
    return p95(by_bucket[nearest]) * 2.0 ** (bucket - nearest)


class FireAhead:
    """One dispatcher's fire-ahead: the lead for a claim, the hold until the slot, the measurements.

    It reads time only through ``clock`` and spends it only through ``sleep`` (the dispatcher's own), so
    tests drive both.
    """

    def __init__(
        self,
        *,
        floor: timedelta,
        ceiling: timedelta,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        self.times = ClaimTimes(floor=floor.total_seconds(), ceiling=ceiling.total_seconds())
        self.clock = clock
        self.sleep = sleep

    @property
    def adaptive(self) -> bool:
        return self.times.adaptive

    def lead_for(self, due: int) -> timedelta:
        return timedelta(seconds=self.times.lead_for(due))

    def claim(self, slot: datetime, due: int, dispatch: Callable[..., Report]) -> Report:
        """Call ``dispatch(before_commit=…, before_push=…)``, the claim of the ``due`` schedules of ``slot``.

        A claim prepared ahead holds its transaction until its expected commit time before the slot, and
        its runs go to the broker at the slot itself. Its preparation and commit feed the next leads.
        """
        commit_allowance = timedelta(seconds=self.times.commit_allowance(due))
        started = self.clock()
        moments: dict[str, datetime] = {}

        def before_commit() -> None:
            moments.setdefault("prepared", self.clock())
            self.hold_until(slot - commit_allowance)
            moments.setdefault("held", self.clock())

        def before_push() -> None:
            moments.setdefault("committed", self.clock())
            self.hold_until(slot)

        report = dispatch(before_commit=before_commit, before_push=before_push)
        if {"prepared", "held", "committed"} <= moments.keys():
            self.times.record(
                due,
                preparation=(moments["prepared"] - started).total_seconds(),
                commit=(moments["committed"] - moments["held"]).total_seconds(),
            )
        return report

    def hold_until(self, moment: datetime) -> None:
        """Wait until ``moment`` (never longer than the longest lead)."""
        delay = min((moment - self.clock()).total_seconds(), self.times.ceiling)
        if delay > 0:
            self.sleep(delay)

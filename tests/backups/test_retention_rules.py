"""Retention as a pure decision: which good backups of a generated 400-day history are kept, and why."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from backups.models import Backup
from backups.retention import RetentionPolicy, select_backups_to_keep

LONDON = ZoneInfo("Europe/London")
NEWEST_DAY = date(2026, 11, 22)  # a Sunday
DEFAULT_POLICY = RetentionPolicy(keep_last=7, keep_daily=7, keep_weekly=4, keep_monthly=6)


@dataclass(frozen=True)
class Record:
    pk: int
    started_at: datetime
    status: str


def at_london(day: date, hour: int = 21, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def nightly_history(days: int = 400) -> list[Record]:
    """One backup at 21:00 London every night; the backups of every 31st failed. Ids grow with time."""
    records = []
    for offset in range(days - 1, -1, -1):
        day = NEWEST_DAY - timedelta(days=offset)
        status = Backup.Status.FAILED if day.day == 31 else Backup.Status.VERIFIED
        records.append(Record(len(records) + 1, at_london(day), status))
    return records


def kept_days(records: list[Record], kept: dict[int, list[str]]) -> set[date]:
    return {record.started_at.astimezone(LONDON).date() for record in records if record.pk in kept}


def test_default_policy_keeps_last_week_four_sundays_and_six_month_ends():
    history = nightly_history()

    kept = select_backups_to_keep(history, DEFAULT_POLICY, LONDON)

    last_seven = {date(2026, 11, day) for day in range(16, 23)}
    weekly = {date(2026, 11, 15), date(2026, 11, 8), date(2026, 11, 1)}
    # Oct 31, Aug 31 and Jul 31 failed: the month's newest *good* backup stands in for them.
    monthly = {date(2026, 10, 30), date(2026, 9, 30), date(2026, 8, 30), date(2026, 7, 30), date(2026, 6, 30)}
    assert kept_days(history, kept) == last_seven | weekly | monthly


def test_a_backup_kept_by_several_rules_lists_each_reason():
    history = nightly_history()

    kept = select_backups_to_keep(history, DEFAULT_POLICY, LONDON)

    newest = history[-1]
    assert kept[newest.pk] == ["last", "daily", "weekly", "monthly"]


def test_failed_backups_are_never_kept_and_never_fill_a_bucket():
    history = nightly_history()
    failed = {record.pk for record in history if record.status == Backup.Status.FAILED}

    kept = select_backups_to_keep(history, RetentionPolicy(1, 0, 0, 13), LONDON)

    assert not failed & kept.keys()
    assert len(kept) == 13


def test_newest_good_backup_is_kept_even_when_no_rule_keeps_anything():
    history = nightly_history()

    kept = select_backups_to_keep(history, RetentionPolicy(0, 0, 0, 0), LONDON)

    assert kept == {history[-1].pk: ["newest"]}


def test_newest_good_backup_is_kept_when_newer_ones_failed():
    history = [*nightly_history(30), Record(1000, at_london(NEWEST_DAY, 22), Backup.Status.FAILED)]

    kept = select_backups_to_keep(history, RetentionPolicy(1, 0, 0, 0), LONDON)

    assert list(kept) == [history[-2].pk]


def test_daily_rule_keeps_only_the_newest_backup_of_a_day():
    morning = Record(1, at_london(NEWEST_DAY, 6), Backup.Status.VERIFIED)
    evening = Record(2, at_london(NEWEST_DAY, 21), Backup.Status.VERIFIED)
    yesterday = Record(3, at_london(NEWEST_DAY - timedelta(days=1), 21), Backup.Status.VERIFIED)

    kept = select_backups_to_keep([morning, evening, yesterday], RetentionPolicy(1, 2, 0, 0), LONDON)

    assert set(kept) == {evening.pk, yesterday.pk}


def test_days_are_counted_in_the_owners_time_zone():
    # 23:30 UTC on 28 June is already 29 June in London (BST): a day of its own there, not in UTC.
    late = Record(1, datetime(2026, 6, 28, 23, 30, tzinfo=UTC), Backup.Status.VERIFIED)
    earlier = Record(2, datetime(2026, 6, 28, 20, 0, tzinfo=UTC), Backup.Status.VERIFIED)

    in_london = select_backups_to_keep([late, earlier], RetentionPolicy(1, 2, 0, 0), LONDON)
    in_utc = select_backups_to_keep([late, earlier], RetentionPolicy(1, 2, 0, 0), ZoneInfo("UTC"))

    assert set(in_london) == {late.pk, earlier.pk}
    assert set(in_utc) == {late.pk}


def test_unverified_running_and_pruned_backups_do_not_count_as_good():
    verified = Record(1, at_london(NEWEST_DAY - timedelta(days=3)), Backup.Status.VERIFIED)
    others = [
        Record(2, at_london(NEWEST_DAY - timedelta(days=2)), Backup.Status.SUCCEEDED),
        Record(3, at_london(NEWEST_DAY - timedelta(days=1)), Backup.Status.PRUNED),
        Record(4, at_london(NEWEST_DAY), Backup.Status.RUNNING),
    ]

    kept = select_backups_to_keep([verified, *others], RetentionPolicy(3, 3, 0, 0), LONDON)

    assert set(kept) == {verified.pk}

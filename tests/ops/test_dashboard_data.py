from datetime import UTC, datetime, timedelta

from backups.models import Backup
from jobs.models import JobRun
from ops.dashboard import backup_overview, failing_schedules, schedule_health, upcoming_runs, worker_state
from tests.builders import make_owner
from tests.ops.builders import make_run, make_schedule

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_success_rate_over_seven_days_counts_succeeded_among_decided_runs(owner):
    schedule = make_schedule(owner)
    for hours, status in ((1, "succeeded"), (2, "succeeded"), (3, "failed"), (4, "skipped")):
        make_run(schedule, slot=NOW - timedelta(hours=hours), status=status)
    make_run(schedule, slot=NOW - timedelta(days=20), status="failed")

    [row] = schedule_health(NOW, None).rows

    assert row.success_rate(7) == 2 / 3
    assert row.success_rate(30) == 2 / 4


def test_average_duration_covers_the_window_asked_for(owner):
    schedule = make_schedule(owner)
    make_run(schedule, slot=NOW - timedelta(hours=1), duration=timedelta(seconds=10))
    make_run(schedule, slot=NOW - timedelta(days=1, hours=1), duration=timedelta(seconds=20))
    make_run(schedule, slot=NOW - timedelta(days=10), duration=timedelta(seconds=90))

    [row] = schedule_health(NOW, None).rows

    assert row.average_duration(7) == timedelta(seconds=15)
    assert row.average_duration(30) == timedelta(seconds=40)


def test_health_has_one_day_per_chart_bar_ending_today(owner):
    make_schedule(owner)

    [row] = schedule_health(NOW, None).rows

    assert len(row.days) == 30
    assert row.days[-1].day == NOW.date()
    assert row.success_rate(7) is None


def test_health_pages_without_counting(owner):
    for _ in range(3):
        make_schedule(owner)

    first = schedule_health(NOW, None, per_page=2)
    second = schedule_health(NOW, None, page=2, per_page=2)

    assert (len(first.rows), first.has_next) == (2, True)
    assert (len(second.rows), second.has_next) == (1, False)


def test_health_asks_two_queries_whatever_the_number_of_schedules(owner, django_assert_num_queries):
    for _ in range(5):
        schedule = make_schedule(owner)
        make_run(schedule, slot=NOW - timedelta(hours=1))

    with django_assert_num_queries(2):
        schedule_health(NOW, None)


def test_health_shows_only_the_viewers_owners(owner, other_owner):
    make_schedule(other_owner)

    assert schedule_health(NOW, {owner.pk}).rows == []


def test_upcoming_runs_list_every_fire_time_in_the_next_day(owner):
    schedule = make_schedule(owner, cron="0 */6 * * *", next_run_at=NOW + timedelta(hours=6))

    runs, more = upcoming_runs(NOW, None)

    assert [run.at for run in runs] == [NOW + timedelta(hours=hours) for hours in (6, 12, 18)]
    assert {run.schedule.pk for run in runs} == {schedule.pk}
    assert more is False


def test_upcoming_runs_are_bounded(owner):
    make_schedule(owner, cron="* * * * *", next_run_at=NOW + timedelta(minutes=1))

    runs, more = upcoming_runs(NOW, None, limit=10)

    assert len(runs) == 10
    assert more is True


def test_upcoming_runs_leave_out_other_owners(owner, other_owner):
    make_schedule(other_owner, next_run_at=NOW + timedelta(hours=1))

    assert upcoming_runs(NOW, {owner.pk}) == ([], False)


def test_failing_schedules_are_those_whose_last_run_failed(owner):
    broken = make_schedule(owner, last_status=JobRun.Status.TIMED_OUT, last_run_at=NOW)
    make_schedule(owner, last_status=JobRun.Status.SUCCEEDED, last_run_at=NOW)

    assert failing_schedules(None) == [broken]


def test_backups_show_the_last_good_backup_with_its_size_and_age(owner):
    Backup.objects.create(
        owner=owner, scope="tenant", status="verified", size=2048, started_at=NOW - timedelta(days=1)
    )
    Backup.objects.create(
        owner=owner, scope="tenant", status="verified", size=1024, started_at=NOW - timedelta(days=2)
    )

    rows, _ = backup_overview({owner.pk})

    [row] = rows
    assert (row.last_good_size, row.age(NOW), row.problem) == (2048, timedelta(days=1), "")


def test_an_owner_whose_last_backup_failed_needs_attention_first(owner, other_owner):
    Backup.objects.create(
        owner=owner, scope="tenant", status="verified", size=1, started_at=NOW - timedelta(days=2)
    )
    Backup.objects.create(
        owner=other_owner, scope="tenant", status="verified", size=1, started_at=NOW - timedelta(days=2)
    )
    Backup.objects.create(
        owner=other_owner, scope="tenant", status="failed", started_at=NOW - timedelta(days=1)
    )

    rows, _ = backup_overview({owner.pk, other_owner.pk})

    assert [(row.owner, row.problem) for row in rows] == [(other_owner, "last backup failed"), (owner, "")]


def test_an_owner_without_any_good_backup_needs_attention(owner):
    Backup.objects.create(owner=owner, scope="tenant", status="succeeded", size=1, started_at=NOW)

    [row], _ = backup_overview({owner.pk})

    assert row.problem == "no good backup"


def test_backups_are_one_query_for_any_number_of_owners(owner, django_assert_num_queries):
    for _ in range(5):
        Backup.objects.create(owner=make_owner(), scope="tenant", status="verified", size=1, started_at=NOW)

    with django_assert_num_queries(1):
        backup_overview(None)


def test_no_cluster_running_reports_no_clusters_and_empty_queues(db):
    state = worker_state(NOW)

    assert state.clusters == []
    assert {"backups", "default"} <= set(state.queue_depths) and set(state.queue_depths.values()) == {0}


def test_the_last_run_is_the_latest_of_any_kind_including_manual_runs(owner):
    schedule = make_schedule(owner)
    make_run(schedule, slot=NOW - timedelta(hours=3))
    manual = make_run(schedule, slot=NOW - timedelta(minutes=5), status="failed", trigger="manual")

    [row] = schedule_health(NOW, None).rows

    assert (row.schedule.latest_run_id, row.schedule.latest_run_status) == (manual.pk, "failed")

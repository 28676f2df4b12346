from datetime import UTC, datetime, timedelta

from backups.models import Backup
from jobs.models import EngineProcess, JobRun
from ops.dashboard import backup_overview, engine_processes, failing_schedules, schedule_health, worker_state
from tests.builders import make_owner
from tests.ops.builders import make_run, make_schedule

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_success_rate_over_seven_days_counts_succeeded_among_decided_runs(owner):
    schedule = make_schedule(owner)
    for hours, status in ((1, "succeeded"), (2, "succeeded"), (3, "failed"), (4, "skipped")):
        make_run(schedule, slot=NOW - timedelta(hours=hours), status=status)
    make_run(schedule, slot=NOW - timedelta(days=20), status="failed")

    [row] = schedule_health(NOW, None, zone=UTC).rows

    assert row.success_rate(7) == 2 / 3
    assert row.success_rate(30) == 2 / 4


def test_average_duration_covers_the_window_asked_for(owner):
    schedule = make_schedule(owner)
    make_run(schedule, slot=NOW - timedelta(hours=1), duration=timedelta(seconds=10))
    make_run(schedule, slot=NOW - timedelta(days=1, hours=1), duration=timedelta(seconds=20))
    make_run(schedule, slot=NOW - timedelta(days=10), duration=timedelta(seconds=90))

    [row] = schedule_health(NOW, None, zone=UTC).rows

    assert row.average_duration(7) == timedelta(seconds=15)
    assert row.average_duration(30) == timedelta(seconds=40)


def test_health_has_one_day_per_chart_bar_ending_today(owner):
    make_schedule(owner)

    [row] = schedule_health(NOW, None, zone=UTC).rows

    assert len(row.days) == 30
    assert row.days[-1].day == NOW.date()
    assert row.success_rate(7) is None


def test_health_pages_without_counting(owner):
    for _ in range(3):
        make_schedule(owner)

    first = schedule_health(NOW, None, zone=UTC, per_page=2)
    second = schedule_health(NOW, None, zone=UTC, page=2, per_page=2)

    assert (len(first.rows), first.has_next) == (2, True)
    assert (len(second.rows), second.has_next) == (1, False)


def test_health_asks_two_queries_whatever_the_number_of_schedules(owner, django_assert_num_queries):
    for _ in range(5):
        schedule = make_schedule(owner)
        make_run(schedule, slot=NOW - timedelta(hours=1))

    with django_assert_num_queries(2):
        schedule_health(NOW, None, zone=UTC)


def test_health_shows_only_the_viewers_owners(owner, other_owner):
    make_schedule(other_owner)

    assert schedule_health(NOW, {owner.pk}, zone=UTC).rows == []


def test_failing_schedules_are_those_whose_last_run_failed(owner):
    broken = make_schedule(owner, last_status=JobRun.Status.TIMED_OUT, last_run_at=NOW)
    make_schedule(owner, last_status=JobRun.Status.SUCCEEDED, last_run_at=NOW)

    assert failing_schedules(None) == [broken]


def test_a_failing_schedule_is_failing_since_its_first_failure_after_its_last_success(owner):
    schedule = make_schedule(owner, last_status=JobRun.Status.FAILED)
    make_run(schedule, slot=NOW - timedelta(hours=5), status="failed")
    make_run(schedule, slot=NOW - timedelta(hours=4), status="succeeded")
    first = make_run(schedule, slot=NOW - timedelta(hours=3), status="failed", duration=timedelta(seconds=7))
    make_run(schedule, slot=NOW - timedelta(hours=2), status="lost")
    # A manual run that failed: the dispatcher never stamped last_run_at, the row still says since when.
    make_run(schedule, slot=NOW - timedelta(hours=1), status="failed", trigger="manual")

    [failing] = failing_schedules(None)

    assert failing.failing_since == first.finished_at == NOW - timedelta(hours=3) + timedelta(seconds=7)


def test_a_schedule_that_never_succeeded_is_failing_since_its_first_failure(owner):
    schedule = make_schedule(owner, last_status=JobRun.Status.FAILED)
    make_run(schedule, slot=NOW - timedelta(days=2), status="failed", duration=None)
    make_run(schedule, slot=NOW - timedelta(days=1), status="failed")

    [failing] = failing_schedules(None)

    assert failing.failing_since == NOW - timedelta(days=2)  # never finished: its slot


def test_failing_schedules_ask_one_query_however_many_fail(owner, django_assert_num_queries):
    for hours in range(5):
        schedule = make_schedule(owner, last_status=JobRun.Status.FAILED)
        make_run(schedule, slot=NOW - timedelta(hours=hours), status="failed")

    with django_assert_num_queries(1):
        assert len(failing_schedules({owner.pk})) == 5


def test_engine_processes_are_the_ones_that_beat_lately_with_their_state(db, settings):
    settings.JOBS_HEARTBEAT_SECONDS = 10
    alive = EngineProcess.objects.create(
        host="a",
        pid=1,
        started_at=NOW - timedelta(hours=2),
        last_beat_at=NOW - timedelta(seconds=5),
        runs_dispatcher=True,
    )
    silent = EngineProcess.objects.create(
        host="b", pid=2, started_at=NOW - timedelta(hours=2), last_beat_at=NOW - timedelta(minutes=5)
    )
    stopped = EngineProcess.objects.create(
        host="c",
        pid=3,
        started_at=NOW - timedelta(hours=2),
        last_beat_at=NOW - timedelta(minutes=9),
        stopped_at=NOW - timedelta(minutes=9),
    )
    EngineProcess.objects.create(
        host="d", pid=4, started_at=NOW - timedelta(days=2), last_beat_at=NOW - timedelta(days=1)
    )

    states = [(entry.process, entry.state) for entry in engine_processes(NOW)]

    assert states == [(alive, "alive"), (silent, "silent"), (stopped, "stopped")]


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

    [row] = schedule_health(NOW, None, zone=UTC).rows

    assert (row.schedule.latest_run_id, row.schedule.latest_run_status) == (manual.pk, "failed")

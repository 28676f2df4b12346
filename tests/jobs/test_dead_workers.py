"""Dead workers are noticed fast: a run whose qcluster stopped beating, or whose process is gone on this
host, is lost at the reaper's next pass; the run's own heartbeat window stays the backstop."""

import os
import subprocess
from datetime import timedelta

import pytest

from jobs.models import EngineProcess, JobRun
from jobs.processes import gone_reason, pid_alive, this_host
from jobs.reaper import reap
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

WINDOW = timedelta(seconds=60)
HEARTBEAT = 10


@pytest.fixture(autouse=True)
def heartbeat(settings):
    settings.JOBS_HEARTBEAT_SECONDS = HEARTBEAT


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def process(*, host: str = "elsewhere", pid: int = 4242, beat_at=T0, **fields) -> EngineProcess:
    return EngineProcess.objects.create(
        host=host, pid=pid, started_at=T0 - timedelta(hours=1), last_beat_at=beat_at, workers=2, **fields
    )


def running_in(engine_process: EngineProcess | None, *, worker: str = "elsewhere:4343", **fields) -> JobRun:
    fields.setdefault("heartbeat_at", T0)
    return make_run(
        make_schedule(now=T0),
        status=JobRun.Status.RUNNING,
        started_at=T0,
        worker=worker,
        engine_process=engine_process,
        **fields,
    )


def test_a_run_of_a_qcluster_that_stopped_beating_is_lost_within_two_heartbeats():
    run = running_in(process(beat_at=T0))

    reap(now=T0 + timedelta(seconds=1.5 * HEARTBEAT + 1), lost_after=WINDOW)

    run.refresh_from_db()
    assert run.status == "lost"
    assert "stopped heartbeating" in run.error


def test_a_run_of_a_qcluster_that_beats_is_left_running():
    run = running_in(process(beat_at=T0 + timedelta(seconds=5)))
    reap(now=T0 + timedelta(seconds=1.5 * HEARTBEAT), lost_after=WINDOW)
    assert JobRun.objects.get(pk=run.pk).status == "running"


def test_a_run_of_a_qcluster_whose_pid_is_gone_on_this_host_is_lost_at_once():
    run = running_in(process(host=this_host(), pid=dead_pid(), beat_at=T0))

    reap(now=T0 + timedelta(seconds=1), lost_after=WINDOW)

    run.refresh_from_db()
    assert run.status == "lost" and "is gone" in run.error


def test_a_late_beat_from_a_qcluster_whose_pid_is_alive_here_does_not_count():
    run = running_in(
        process(host=this_host(), pid=os.getpid(), beat_at=T0), worker=f"{this_host()}:{os.getpid()}"
    )
    reap(now=T0 + timedelta(seconds=3 * HEARTBEAT), lost_after=WINDOW)
    assert JobRun.objects.get(pk=run.pk).status == "running"


def test_a_run_whose_worker_process_is_gone_on_this_host_is_lost_at_once():
    run = running_in(None, worker=f"{this_host()}:{dead_pid()}")

    reap(now=T0 + timedelta(seconds=1), lost_after=WINDOW)

    run.refresh_from_db()
    assert run.status == "lost" and "worker process" in run.error


def test_a_run_of_a_stopped_qcluster_is_lost():
    run = running_in(process(beat_at=T0, stopped_at=T0))
    reap(now=T0 + timedelta(seconds=1), lost_after=WINDOW)
    assert JobRun.objects.get(pk=run.pk).status == "lost"


def test_without_a_known_process_the_lost_window_is_the_backstop():
    run = running_in(None, worker="elsewhere:1")
    reap(now=T0 + WINDOW - timedelta(seconds=1), lost_after=WINDOW)
    assert JobRun.objects.get(pk=run.pk).status == "running"
    reap(now=T0 + WINDOW + timedelta(seconds=1), lost_after=WINDOW)
    assert JobRun.objects.get(pk=run.pk).status == "lost"


def test_a_lost_run_is_marked_once_by_several_reapers_and_retried_once():
    schedule = make_schedule(now=T0, max_attempts=2)
    run = make_run(
        schedule, status=JobRun.Status.RUNNING, started_at=T0, heartbeat_at=T0, engine_process=process()
    )
    later = T0 + timedelta(seconds=2 * HEARTBEAT)

    first, second = reap(now=later, lost_after=WINDOW), reap(now=later, lost_after=WINDOW)

    assert (first.lost, second.lost) == (1, 0)
    assert JobRun.objects.filter(schedule=schedule, attempt=2, retry_of=run).count() == 1


def test_a_pid_that_exists_is_alive_and_a_reaped_one_is_not():
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())


def test_the_alive_processes_are_those_not_stopped_that_beat_recently():
    fresh = process(beat_at=T0)
    process(beat_at=T0 - timedelta(seconds=2 * HEARTBEAT))
    process(beat_at=T0, stopped_at=T0)
    assert list(EngineProcess.objects.alive(T0 + timedelta(seconds=1))) == [fresh]


def test_nothing_is_gone_about_a_run_without_process_or_worker_pid():
    assert gone_reason(running_in(None, worker="test-worker"), now=T0, host=this_host()) == ""


def test_pruning_the_history_removes_processes_silent_longer_than_the_cutoff():
    from jobs.history import prune_runs

    old = process(beat_at=T0 - timedelta(days=100), stopped_at=T0 - timedelta(days=100))
    recent = process(beat_at=T0 - timedelta(days=1))
    run = make_run(make_schedule(now=T0), status=JobRun.Status.SUCCEEDED, engine_process=old)

    prune_runs(older_than=timedelta(days=90), now=T0)

    assert list(EngineProcess.objects.all()) == [recent]
    assert JobRun.objects.get(pk=run.pk).engine_process_id is None

"""Scale-out proof: three qclusters on three hosts (network namespaces, each with its own address and host
name) share one PostgreSQL and one Redis, reached over veth pairs; both servers belong to the test, so it
can restart them. 100 schedules fire every second for a minute while, one after the other, one host's
cluster is killed with SIGKILL, PostgreSQL is stopped for longer than the schedules' misfire grace and
started again, and Redis (no persistence: its queued tasks are lost) is restarted.

What must hold: while all is well, exactly one run per slot; throughout, no slot run twice and no run
left unfinished; every slot without a run lies in the PostgreSQL outage and was reported by the misfire
policy (``event=missed_slots_dropped``); the dispatchers claim again within 10 s of each restart.

Needs root (``ip netns``), PostgreSQL's server binaries and a ``postgres`` account, and redis-server;
skipped, saying which is missing, elsewhere. Run it alone with ``pytest -m scaleout``.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.deploy.servers import free_port
from tests.e2e.hosts import Host, NamespacesUnavailable, Network
from tests.e2e.services import OwnPostgres, OwnRedis, ServiceUnavailable
from tests.e2e.workers import BOOT, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.scaleout]

HOSTS = ["host-a", "host-b", "host-c"]
SCHEDULES = 100
FIRING_SECONDS = 60
GRACE_SECONDS = 5  # misfire grace of the schedules; PostgreSQL stays down longer than this
POSTGRES_DOWN_SECONDS = 8
RECOVERY_SECONDS = 10
DATABASE = "scaleout"

CREATE_SCHEDULES = f"""
import sys, django
django.setup()
from jobs.models import Schedule, TriggerKind
from jobs.policies import MisfirePolicy, OverlapPolicy
for number in range({SCHEDULES}):
    Schedule(
        job_name="e2e.tick", key=f"tick-{{number}}", kwargs={{"log": sys.argv[1]}},
        trigger_kind=TriggerKind.CRON, cron_expression="* * * * * *", overlap_policy=OverlapPolicy.ALLOW,
        misfire_policy=MisfirePolicy.RUN_ONCE, misfire_grace_seconds={GRACE_SECONDS},
    ).save()
"""


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def network():
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces (ip netns) needs root; the scale-out proof did not run")
    try:
        created = Network.create(HOSTS)
    except NamespacesUnavailable as reason:
        pytest.skip(f"cannot create network namespaces here ({reason}); the scale-out proof did not run")
    yield created
    created.close()
    assert not created.leftovers()


@pytest.fixture
def postgres(network):
    try:
        server = OwnPostgres.create(listen=["127.0.0.1", network.gateway], port=free_port())
    except ServiceUnavailable as reason:
        pytest.skip(f"{reason}; the scale-out proof did not run")
    try:
        server.start()
        server.create_database(DATABASE)
        yield server
    finally:
        server.destroy()


@pytest.fixture
def broker(network, tmp_path):
    server = OwnRedis(listen=["127.0.0.1", network.gateway], port=free_port(), log=tmp_path / "redis.log")
    try:
        server.start()
    except ServiceUnavailable as reason:
        pytest.skip(f"{reason}; the scale-out proof did not run")
    yield server
    server.stop()


@dataclass
class Cluster:
    host: Host
    process: subprocess.Popen
    log: Path


class Fleet:
    """One qcluster per host, all on the test's PostgreSQL and Redis over the bridge."""

    def __init__(self, network: Network, postgres: OwnPostgres, broker: OwnRedis, directory: Path) -> None:
        self.network, self.directory = network, directory
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("JOBS_", "Q_", "DATABASE_", "REDIS_", "DATA_DIR", "METRICS_"))
        }
        self.env = {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": postgres.url(network.gateway, DATABASE),
            "REDIS_URL": f"redis://{network.gateway}:{broker.port}/0",
            "SECRET_KEY": "scale-out-test-key-shared-by-every-host-0123456789",  # tasks are signed with it
            "Q_CLUSTER_NAME": f"scaleout-{uuid.uuid4().hex[:8]}",
            "Q_WORKERS": "3",
            "CONN_MAX_AGE": "60",
            "JOBS_HEARTBEAT_SECONDS": "1",
            "JOBS_LOST_AFTER_SECONDS": "3",
            "LOG_LEVEL": "INFO",
        }
        self.clusters: dict[str, Cluster] = {}

    def manage(self, *argv: str) -> None:
        """Run Django code against the shared database from the test's side of the bridge."""
        env = {**self.env, "DATABASE_URL": self.env["DATABASE_URL"], "DATA_DIR": str(self.directory)}
        result = subprocess.run(
            [sys.executable, *argv],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self) -> None:
        for host in self.network.hosts:
            data_dir = self.directory / host.name
            data_dir.mkdir()
            log = self.directory / f"{host.name}.log"
            process = subprocess.Popen(
                host.command([sys.executable, "-c", BOOT]),
                cwd=settings.BASE_DIR,
                env={**self.env, "DATA_DIR": str(data_dir)},
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.clusters[host.name] = Cluster(host=host, process=process, log=log)

    def kill(self, name: str) -> None:
        """SIGKILL the whole cluster of one host: main process, sentinel, workers."""
        os.killpg(self.clusters[name].process.pid, signal.SIGKILL)
        self.clusters[name].process.wait()

    def stop(self) -> None:
        for cluster in self.clusters.values():
            if cluster.process.poll() is None:
                cluster.process.send_signal(signal.SIGTERM)
        for cluster in self.clusters.values():
            try:
                cluster.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.process.pid, signal.SIGKILL)
                cluster.process.wait()

    def logs(self) -> str:
        return "\n".join(cluster.log.read_text() for cluster in self.clusters.values())


@pytest.fixture
def fleet(network, postgres, broker, tmp_path):
    started = Fleet(network, postgres, broker, tmp_path)
    yield started
    started.stop()


def query(postgres: OwnPostgres, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(
        postgres.url("127.0.0.1", DATABASE), autocommit=True, connect_timeout=5
    ) as connection:
        return connection.execute(sql, params).fetchall()


def sleep_until(moment: datetime) -> None:
    time.sleep(max((moment - now()).total_seconds(), 0))


def test_three_hosts_fire_every_slot_once_through_a_kill_and_database_and_broker_restarts(
    fleet, postgres, broker, tmp_path
):
    executions = tmp_path / "executions.log"
    executions.touch()
    fleet.manage("manage.py", "migrate", "--noinput", "-v", "0")
    fleet.start()
    wait_for(
        lambda: fleet.logs().count("event=dispatcher_started") == len(HOSTS),
        timeout=90,
        message="the three clusters are up",
    )
    fleet.manage("-c", CREATE_SCHEDULES, str(executions))
    began = now()

    # The processes under test do the work; the test lets time pass and breaks things on the way.
    sleep_until(began + timedelta(seconds=20))
    fleet.kill("host-c")
    killed_at = now()

    sleep_until(began + timedelta(seconds=28))
    postgres.stop()
    database_down = now()
    time.sleep(POSTGRES_DOWN_SECONDS)
    postgres.start()
    database_up = now()
    new_runs_since = "SELECT count(*) FROM jobs_jobrun WHERE job_name = 'e2e.tick' AND created_at >= %s"
    wait_for(
        lambda: query(postgres, new_runs_since, (database_up,))[0][0] > 0,
        timeout=RECOVERY_SECONDS,
        message="a dispatcher claims slots again after PostgreSQL's restart",
    )
    database_recovery = now() - database_up

    sleep_until(began + timedelta(seconds=46))
    broker.stop()
    time.sleep(1)
    broker.start()
    broker_up = now()
    queued_since = "SELECT count(*) FROM jobs_jobrun WHERE job_name = 'e2e.tick' AND queued_at >= %s"
    wait_for(
        lambda: query(postgres, queued_since, (broker_up,))[0][0] > 0,
        timeout=RECOVERY_SECONDS,
        message="a dispatcher queues runs again after the Redis restart",
    )
    started_since = queued_since + " AND started_at IS NOT NULL"
    wait_for(
        lambda: query(postgres, started_since, (broker_up,))[0][0] > 0,
        timeout=30,
        message="workers take runs from Redis again after its restart",
    )
    execution_recovery = now() - broker_up

    sleep_until(began + timedelta(seconds=FIRING_SECONDS))
    query(postgres, "UPDATE jobs_schedule SET enabled = false WHERE job_name = 'e2e.tick' RETURNING id")
    active = (
        "SELECT count(*) FROM jobs_jobrun "
        "WHERE job_name = 'e2e.tick' AND status IN ('scheduled', 'queued', 'running')"
    )
    wait_for(lambda: query(postgres, active)[0][0] == 0, timeout=90, message="every run has ended")

    runs = query(
        postgres,
        "SELECT id, schedule_id, slot, attempt, status, worker FROM jobs_jobrun WHERE job_name = 'e2e.tick'",
    )
    logs = fleet.logs()
    report = account_for_every_slot(
        runs, logs, executions.read_text().split(), began=began, killed_at=killed_at
    )

    # Exactly one run per slot while everything was up.
    assert report.phase_one_gaps == [] and report.phase_one_slots == SCHEDULES * report.phase_one_seconds
    # No slot twice (the unique constraint), no run executed twice, no run left behind.
    assert report.executed_twice == []
    assert report.attempts == {1}
    # Every slot without a run lies in the database outage and was dropped, and reported, by the policy.
    outage = (database_down - timedelta(seconds=1), database_up + timedelta(seconds=RECOVERY_SECONDS))
    assert all(outage[0] <= slot <= outage[1] for slot in report.missing_slots), report.missing_slots
    assert report.missing == report.reported_dropped
    assert report.reported_dropped > 0  # the outage outlasted the grace period: the policy had work
    # Runs that did not succeed were cut off by the kill or the outage and say so.
    assert set(report.not_succeeded) <= {"lost", "failed"}
    assert database_recovery <= timedelta(seconds=RECOVERY_SECONDS)
    print(
        f"\nscale-out: {len(runs)} runs, {report.missing} slots dropped by the misfire policy in the "
        f"{POSTGRES_DOWN_SECONDS} s database outage, not succeeded {dict(report.not_succeeded)}, "
        f"runs by host {dict(report.by_host)}; dispatchers claimed again "
        f"{database_recovery.total_seconds():.1f} s after PostgreSQL was back; workers ran again "
        f"{execution_recovery.total_seconds():.1f} s after Redis was back"
    )


@dataclass
class SlotReport:
    phase_one_seconds: int
    phase_one_slots: int
    phase_one_gaps: list
    executed_twice: list
    attempts: set
    missing_slots: list
    missing: int
    reported_dropped: int
    not_succeeded: Counter
    by_host: Counter


def account_for_every_slot(
    runs: list[tuple], logs: str, executed_ids: list[str], *, began: datetime, killed_at: datetime
) -> SlotReport:
    slots_by_schedule: dict[int, list[datetime]] = defaultdict(list)
    for _run_id, schedule_id, slot, _attempt, _status, _worker in runs:
        slots_by_schedule[schedule_id].append(slot)
    assert len(slots_by_schedule) == SCHEDULES

    # Phase one: from two seconds after the schedules were created until the kill.
    first = (began + timedelta(seconds=2)).replace(microsecond=0)
    last = (killed_at - timedelta(seconds=1)).replace(microsecond=0)
    seconds = int((last - first).total_seconds()) + 1
    phase_one = [first + timedelta(seconds=offset) for offset in range(seconds)]
    gaps, counted = [], 0
    for schedule_id, slots in slots_by_schedule.items():
        present = Counter(slot for slot in slots if first <= slot <= last)
        counted += sum(present.values())
        gaps.extend((schedule_id, slot) for slot in phase_one if present[slot] != 1)

    # Throughout: each schedule's slots from its first to its last run are each run or reported dropped.
    missing_slots = []
    for slots in slots_by_schedule.values():
        present = set(slots)
        moment, end = min(slots), max(slots)
        while moment <= end:
            if moment not in present:
                missing_slots.append(moment)
            moment += timedelta(seconds=1)
    dropped = sum(
        int(count) for count in re.findall(r"event=missed_slots_dropped schedule=\d+ count=(\d+)", logs)
    )

    execution_counts = Counter(executed_ids)
    return SlotReport(
        phase_one_seconds=seconds,
        phase_one_slots=counted,
        phase_one_gaps=gaps[:20],
        executed_twice=[run_id for run_id, count in execution_counts.items() if count > 1],
        attempts={attempt for _, _, _, attempt, _, _ in runs},
        missing_slots=missing_slots,
        missing=len(missing_slots),
        reported_dropped=dropped,
        not_succeeded=Counter(status for *_, status, _ in runs if status != "succeeded"),
        by_host=Counter(worker.split(":")[0] for *_, worker in runs if worker),
    )

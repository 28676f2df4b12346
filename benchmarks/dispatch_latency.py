"""Lateness from slot to job start: our dispatcher next to django-q2's own scheduler, in the same run.

    .venv/bin/python benchmarks/dispatch_latency.py [--seconds 75] [--schedules 1000]

Each case runs in a process of its own (settings come from the environment at start-up) against a scratch
PostgreSQL database (re-created; never the main one) with two real ``qcluster`` processes:

  (a) 1,000 six-field cron schedules spread over the minute, Redis broker: p50/p99/max lateness, duplicate
      and missed slots (target p99 <= 250 ms, max <= 1 s, zero duplicates, zero missed); beside it 20
      django-q2 cron schedules run by django-q2's scheduler, called as its sentinel does (every 30 s).
  (b) the same on django-q2's ORM broker (target p99 <= 1 s).
  (c) a burst of 1,000 schedules due in the same second (Redis): the dispatcher's own claim-and-enqueue
      time for the burst (target < 1 s), runs started per second, time until the last one started.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
BOOT = (
    "import sys; sys.path.insert(0, {bench!r}); import django; django.setup(); import dispatch_latency_jobs; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'qcluster'{extra}])"
)
REDIS_URL = "redis://127.0.0.1:6379/0"
Q2_SCHEDULES = 20
Q2_GUARD_SECONDS = 30  # django-q2's sentinel calls its scheduler about every 30 s (guard loop)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument("--database", default="dispatch_latency_bench", help="scratch database (re-created)")
    parser.add_argument("--seconds", type=int, default=75, help="how long cases (a) and (b) fire")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="django-q2 workers per cluster")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="CONN_MAX_AGE for the clusters (0 = a new database connection for every run)",
    )
    parser.add_argument("--cases", default="abc", help="which cases to run, e.g. 'a' or 'ac'")
    parser.add_argument("--case", choices=["a", "b", "c"], help=argparse.SUPPRESS)
    return parser.parse_args()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(lateness: list[float]) -> dict:
    if not lateness:
        return {"count": 0}
    return {
        "count": len(lateness),
        "p50_ms": round(statistics.median(lateness) * 1000, 1),
        "p99_ms": round(percentile(lateness, 0.99) * 1000, 1),
        "max_ms": round(max(lateness) * 1000, 1),
    }


# --- the orchestrator (parent process) ------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if args.case:
        run_case(args)
        return
    results = {}
    for case, redis in (("a", True), ("b", False), ("c", True)):
        if case not in args.cases:
            continue
        recreate_database(args.server, args.database)
        env = case_env(args, redis=redis)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        started = time.monotonic()
        output = subprocess.run(
            [sys.executable, __file__, "--case", case, *sys.argv[1:]],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        results[case] = json.loads(output.strip().splitlines()[-1])
        results[case]["case_seconds"] = round(time.monotonic() - started, 1)
    print_report(results, args)


def case_env(args: argparse.Namespace, *, redis: bool) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JOBS_", "Q_", "REDIS_"))}
    env |= {
        "DATABASE_URL": f"{args.server}/{args.database}",
        "DATA_DIR": tempfile.mkdtemp(prefix="dispatch-latency-"),
        "Q_CLUSTER_NAME": f"bench-{uuid.uuid4().hex[:8]}",
        "Q_WORKERS": str(args.workers),
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": str(args.conn_max_age),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    if redis:
        env["REDIS_URL"] = REDIS_URL
    return env


def recreate_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def print_report(results: dict, args: argparse.Namespace) -> None:
    def row(label: str, stats: dict) -> str:
        if not stats.get("count"):
            return f"  {label:<34} no runs"
        return (
            f"  {label:<34} runs={stats['count']:>5}  p50={stats['p50_ms']:>8.1f} ms  "
            f"p99={stats['p99_ms']:>8.1f} ms  max={stats['max_ms']:>8.1f} ms"
        )

    print(
        f"Dispatch latency, slot -> job start (two qclusters x {args.workers} workers, PostgreSQL, "
        f"CONN_MAX_AGE={args.conn_max_age}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    for case, broker in (("a", "Redis"), ("b", "ORM")):
        if case not in results:
            continue
        result = results[case]
        print(f"({case}) {args.schedules} six-field cron schedules over the minute, {broker} broker:")
        print(row("jobs dispatcher", result["ours"]))
        print(row("django-q2 scheduler (same run)", result["django_q2"]))
        ratio = (
            result["django_q2"]["p99_ms"] / result["ours"]["p99_ms"]
            if result["ours"].get("count") and result["django_q2"].get("count")
            else float("nan")
        )
        print(
            f"  duplicates={result['duplicates']}  missed={result['missed']}  "
            f"expected slots={result['expected']}  p99 ratio django-q2/ours={ratio:.0f}x"
        )
    if "c" not in results:
        return
    burst = results["c"]
    print(f"(c) burst of {burst['schedules']} schedules due in the same second, Redis broker:")
    print(f"  claim-and-enqueue for the burst: {burst['claim_seconds'] * 1000:.0f} ms")
    print(f"  time until the last run started: {burst['last_start_seconds']} s")
    print(f"  runs started per second: {burst['per_second']}")
    print(f"  duplicates={burst['duplicates']}  started={burst['started']}")


# --- one case (child process, settings from its environment) --------------------------------------------


def run_case(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH_DIR))
    import django

    django.setup()
    import dispatch_latency_jobs  # noqa: F401 - registers bench.noop in this process too

    clusters: list[subprocess.Popen] = []
    try:
        result = burst_case(args, clusters) if args.case == "c" else steady_case(args, clusters)
    finally:
        stop_clusters(clusters)
    print(json.dumps(result))


def start_clusters(count: int, *, dispatcher: bool = True) -> list[subprocess.Popen]:
    from django.conf import settings

    extra = "" if dispatcher else ", '--no-dispatcher'"
    log_dir = Path(settings.DATA_DIR)
    return [
        subprocess.Popen(
            [sys.executable, "-c", BOOT.format(bench=str(BENCH_DIR), extra=extra)],
            cwd=ROOT,
            stdout=(log_dir / f"qcluster-{number}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for number in range(count)
    ]


def stop_clusters(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_idle(timeout: float = 60) -> None:
    from jobs.models import JobRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not JobRun.objects.filter(status__in=["scheduled", "queued", "running"]).exists():
            return
        time.sleep(0.5)


def steady_case(args: argparse.Namespace, clusters: list[subprocess.Popen]) -> dict:
    from django.conf import settings
    from django.utils import timezone
    from django_q.models import Schedule as Q2Schedule
    from django_q.scheduler import scheduler

    from jobs.cron import next_fire_times
    from jobs.models import JobRun, Schedule

    data_dir = Path(settings.DATA_DIR)
    runs_log, q2_log = data_dir / "runs.log", data_dir / "q2.log"
    runs_log.touch()
    q2_log.touch()
    clusters.extend(start_clusters(2))
    time.sleep(8)  # let both clusters fork their workers and start their dispatchers

    began = timezone.now()
    expressions = [f"{number % 60} * * * * *" for number in range(args.schedules)]
    schedules = [
        Schedule(
            job_name="bench.noop",
            key=f"s{number}",
            trigger_kind="cron",
            cron_expression=expression,
            overlap_policy="allow",
            kwargs={"log": str(runs_log)},
        )
        for number, expression in enumerate(expressions)
    ]
    for schedule in schedules:
        schedule.refresh_next_run_at(began)
    Schedule.objects.bulk_create(schedules)
    for number in range(Q2_SCHEDULES):
        Q2Schedule.objects.create(
            name=f"q2-{number}",
            func="dispatch_latency_jobs.q_record",
            kwargs=f"log={str(q2_log)!r}",
            schedule_type=Q2Schedule.MINUTES,
            minutes=1,
            intended_date_kwarg="intended",
            cluster=settings.Q_CLUSTER["name"],
            next_run=(began + timedelta(minutes=1)).replace(second=0, microsecond=0),
        )
    # django-q2's own scheduler, called at the cadence of its sentinel's guard loop.
    stop = threading.Event()

    def django_q2_guard() -> None:
        while not stop.wait(Q2_GUARD_SECONDS):
            scheduler()

    guard = threading.Thread(target=django_q2_guard, daemon=True)
    guard.start()
    from jobs.wakeup import wake_dispatchers

    wake_dispatchers()
    time.sleep(args.seconds)
    ended = timezone.now()
    Schedule.objects.update(enabled=False)
    stop.set()
    wait_until_idle()

    window_start, window_end = began + timedelta(seconds=3), ended - timedelta(seconds=3)
    runs = list(
        JobRun.objects.filter(
            job_name="bench.noop", slot__gte=window_start, slot__lte=window_end
        ).values_list("schedule_id", "slot", "started_at")
    )
    lateness = [(started - slot).total_seconds() for _, slot, started in runs if started]
    actual = Counter((schedule_id, slot) for schedule_id, slot, _ in runs)
    expected = set()
    for schedule in Schedule.objects.filter(job_name="bench.noop"):
        for slot in next_fire_times(
            schedule.cron_expression, window_start - timedelta(microseconds=1), 3, "UTC"
        ):
            if slot <= window_end:
                expected.add((schedule.pk, slot))
    executions = Counter(runs_log.read_text().split())
    q2_lateness = []
    for line in q2_log.read_text().splitlines():
        intended, started = line.split()
        q2_lateness.append(
            (datetime.fromisoformat(started) - datetime.fromisoformat(intended)).total_seconds()
        )
    return {
        "ours": summary(lateness),
        "django_q2": summary(q2_lateness),
        "expected": len(expected),
        "missed": len(expected - set(actual)),
        "duplicates": sum(count - 1 for count in actual.values() if count > 1)
        + sum(count - 1 for count in executions.values() if count > 1),
        "not_started": sum(1 for _, _, started in runs if started is None),
    }


def burst_case(args: argparse.Namespace, clusters: list[subprocess.Popen]) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from jobs.dispatcher import dispatch_due
    from jobs.models import JobRun, Schedule

    runs_log = Path(settings.DATA_DIR) / "runs.log"
    runs_log.touch()
    clusters.extend(start_clusters(2, dispatcher=False))
    time.sleep(8)
    now = timezone.now()
    slot = (now + timedelta(seconds=5)).replace(microsecond=0)
    schedules = [
        Schedule(
            job_name="bench.noop",
            key=f"b{number}",
            trigger_kind="cron",
            cron_expression=f"{slot.second} {slot.minute} * * * *",
            overlap_policy="allow",
            kwargs={"log": str(runs_log)},
            next_run_at=slot,
        )
        for number in range(args.schedules)
    ]
    Schedule.objects.bulk_create(schedules)
    time.sleep(max((slot - timezone.now()).total_seconds(), 0))
    began = time.perf_counter()
    report = dispatch_due(now=timezone.now())
    claim_seconds = time.perf_counter() - began
    wait_until_idle(timeout=120)
    started = sorted(JobRun.objects.filter(slot=slot).values_list("started_at", flat=True))
    per_second = Counter(int((moment - slot).total_seconds()) for moment in started if moment)
    executions = Counter(runs_log.read_text().split())
    return {
        "schedules": args.schedules,
        "queued": report.queued,
        "claim_seconds": claim_seconds,
        "started": len([moment for moment in started if moment]),
        "last_start_seconds": (started[-1] - slot).total_seconds() if started and started[-1] else None,
        "per_second": dict(sorted(per_second.items())),
        "duplicates": sum(count - 1 for count in executions.values() if count > 1),
    }


if __name__ == "__main__":
    main()

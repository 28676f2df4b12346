"""Lateness, bursts and throughput of our runs, next to django-q2's own scheduler and tasks, in one run.

    .venv/bin/python benchmarks/dispatch_latency.py [--cases abcd] [--redis-url redis://127.0.0.1:6379/15]

Each case runs in a process of its own (settings come from the environment at start-up) against a scratch
PostgreSQL database (re-created; never the main one), with real ``qcluster`` processes. Redis keys live
under the case's own cluster name (a fresh uuid), in the database ``--redis-url`` names.

  (a) 1,000 six-field cron schedules spread over the minute, two of our qclusters (dispatchers inside),
      Redis broker: p50/p99/max lateness from slot to job start, duplicate and missed slots. Beside it, the
      anchor: a stock django-q2 qcluster with its own scheduler on, running 20 one-minute schedules spread
      over the minute; its lateness is the phase of its 30 s scheduler check, reported as min/p50/max.
  (b) the same on django-q2's ORM broker.
  (c) a burst of 1,000 schedules due in the same second, two of our qclusters with their dispatchers
      (Redis): when the claimed runs became visible relative to the slot, runs started per second, time
      until the last one started (target <= 2 s).
  (d) throughput on one qcluster with --workers workers (Redis): 1,000 of our trivial runs (bench.noop,
      queued and pushed at once the way the dispatcher pushes a claim) against 1,000 raw django-q2
      ``async_task`` tasks of the same trivial function on the same workers, also released at once, as
      django-q2 runs them by default (its monitor saves each result) and with ``save=False`` (nothing
      recorded); starts per second (first to last start), and results recorded per second (release to
      the last run ended in its row / the last Task row saved), with the ratios, rounds alternating.

Results are appended to benchmarks/results/dispatch_latency.jsonl.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from bench_clusters import (
    start_clusters,
    start_stock_cluster,
    stop_clusters,
    wait_for_lines,
    wait_until_idle,
)
from history import record_run

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
Q2_SCHEDULES = 20
BURST_TARGET_S, THROUGHPUT_TARGET = 2.0, 0.8
CASES = {"a": "redis", "b": "orm", "c": "redis", "d": "redis"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument(
        "--database", default="scheduler_bench_dispatch_latency", help="scratch database (re-created)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="Redis for cases a, c and d")
    parser.add_argument(
        "--seconds", type=int, default=95, help="how long cases (a) and (b) fire (95 s: 3 django-q2 checks)"
    )
    parser.add_argument("--schedules", type=int, default=1000, help="schedules in (a), (b) and (c)")
    parser.add_argument("--tasks", type=int, default=1000, help="runs and tasks per round in (d)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (d), ours and raw alternating")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 workers per cluster")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="CONN_MAX_AGE for the clusters (0 = a new database connection for every run)",
    )
    parser.add_argument("--cases", default="abcd", help="which cases to run, e.g. 'a' or 'cd'")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    return parser.parse_args()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(lateness: list[float]) -> dict:
    if not lateness:
        return {"count": 0}
    return {
        "count": len(lateness),
        "min_ms": round(min(lateness) * 1000, 1),
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
    for case, broker in CASES.items():
        if case not in args.cases:
            continue
        recreate_database(args.server, args.database)
        env = case_env(args, redis=broker == "redis")
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
    options = {key: value for key, value in vars(args).items() if key not in {"server", "case"}}
    record_run("dispatch_latency", options=options, results=results)


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
        env["REDIS_URL"] = args.redis_url
    return env


def recreate_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def row(label: str, stats: dict) -> str:
    if not stats.get("count"):
        return f"  {label:<38} no runs"
    return (
        f"  {label:<38} runs={stats['count']:>5}  min={stats['min_ms']:>8.1f}  p50={stats['p50_ms']:>8.1f}  "
        f"p99={stats['p99_ms']:>8.1f}  max={stats['max_ms']:>8.1f} ms"
    )


def print_report(results: dict, args: argparse.Namespace) -> None:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nDispatch latency and throughput (PostgreSQL, {args.workers} workers per cluster, "
        f"CONN_MAX_AGE={args.conn_max_age}, {os.cpu_count()} CPUs, load average at the end {load})"
    )
    for case, broker in (("a", "Redis"), ("b", "ORM")):
        if case in results:
            result = results[case]
            print(f"({case}) {args.schedules} six-field cron schedules over the minute, {broker} broker:")
            print(row("ours, 2 qclusters with dispatchers", result["ours"]))
            print(row("django-q2 scheduler, stock qcluster", result["django_q2"]))
            print(
                f"  duplicates={result['duplicates']}  missed={result['missed']}  "
                f"expected slots={result['expected']}  django-q2 checks seen={result['django_q2_checks']}: "
                "its lateness is where a slot falls in its 30 s check cycle, anywhere from 0 to 30 s"
            )
    if "c" in results:
        burst = results["c"]
        last = burst["last_start_seconds"]
        print(f"(c) burst of {burst['schedules']} schedules due in the same second, 2 qclusters, Redis:")
        print(
            f"  claimed runs visible: first {burst['first_visible_ms']} ms, all "
            f"{burst['all_visible_ms']} ms after the slot"
        )
        print(
            f"  time until the last run started: {last} s (target <= {BURST_TARGET_S:.0f} s: "
            f"{'met' if last is not None and last <= BURST_TARGET_S else 'MISSED'})"
        )
        print(f"  runs started per second after the slot: {burst['per_second']}")
        print(f"  started={burst['started']}  duplicates={burst['duplicates']}")
    if "d" in results:
        result = results["d"]
        print(f"(d) throughput, {result['tasks']} trivial tasks pushed at once, 1 qcluster x {args.workers}:")
        for entry in result["rounds"]:
            print(
                f"  round {entry['round']} {entry['kind']:<5} prepared in {entry['push_seconds']:.2f} s, "
                f"started {entry['started']}, {entry['per_second']:.0f} starts/s, "
                f"release -> last start {entry['release_to_last_seconds']:.2f} s, "
                f"-> all recorded {entry['release_to_recorded_seconds']:.2f} s"
            )
        ratio = result["ratio"]
        print(
            f"  starts, ours / raw django-q2 (best rounds): {result['ours_per_second']:.0f} / "
            f"{result['raw_per_second']:.0f} starts/s = {ratio:.2f}x (target >= {THROUGHPUT_TARGET}: "
            f"{'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'}); "
            f"against save=False tasks: {result['ratio_to_bare']:.2f}x"
        )
        recorded = result["recorded_ratio"]
        print(
            f"  results recorded, ours / raw django-q2: {result['ours_recorded_per_second']:.0f} / "
            f"{result['raw_recorded_per_second']:.0f} per s = {recorded:.2f}x "
            f"(target >= {THROUGHPUT_TARGET}: "
            f"{'met' if recorded >= THROUGHPUT_TARGET else 'MISSED'})"
        )


# --- one case (child process, settings from its environment) --------------------------------------------


def run_case(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import dispatch_latency_jobs  # noqa: F401 - registers bench.noop in this process too

    clusters: list[subprocess.Popen] = []
    case = {"a": steady_case, "b": steady_case, "c": burst_case, "d": throughput_case}[args.case]
    try:
        result = case(args, clusters)
    finally:
        stop_clusters(clusters)
    print(json.dumps(result))


def steady_case(args: argparse.Namespace, clusters: list[subprocess.Popen]) -> dict:
    from django.conf import settings
    from django.utils import timezone
    from django_q.models import Schedule as Q2Schedule

    from jobs.cron import next_fire_times
    from jobs.models import JobRun, Schedule
    from jobs.wakeup import wake_dispatchers

    data_dir = Path(settings.DATA_DIR)
    runs_log, q2_log = data_dir / "runs.log", data_dir / "q2.log"
    runs_log.touch()
    q2_log.touch()
    stock_name = f"{settings.Q_CLUSTER['name']}-stock"
    clusters.extend(start_clusters(2))
    clusters.append(start_stock_cluster(stock_name))
    time.sleep(8)  # let the clusters fork their workers and start their dispatchers

    began = timezone.now()
    schedules = [
        Schedule(
            job_name="bench.noop",
            key=f"s{number}",
            trigger_kind="cron",
            cron_expression=f"{number % 60} * * * * *",
            overlap_policy="allow",
            kwargs={"log": str(runs_log)},
        )
        for number in range(args.schedules)
    ]
    for schedule in schedules:
        schedule.refresh_next_run_at(began)
    Schedule.objects.bulk_create(schedules)
    # django-q2's schedules 3 s apart over a minute, so their lateness samples its whole check cycle.
    for number in range(Q2_SCHEDULES):
        Q2Schedule.objects.create(
            name=f"q2-{number}",
            func="dispatch_latency_jobs.q_record",
            kwargs=f"log={str(q2_log)!r}",
            schedule_type=Q2Schedule.MINUTES,
            minutes=1,
            intended_date_kwarg="intended",
            cluster=stock_name,
            next_run=began + timedelta(seconds=2 + number * 60 // Q2_SCHEDULES),
        )
    wake_dispatchers()
    time.sleep(args.seconds)
    ended = timezone.now()
    Schedule.objects.update(enabled=False)
    Q2Schedule.objects.all().delete()
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
    executions = Counter(line.split()[0] for line in runs_log.read_text().splitlines())
    q2_starts = []
    for line in q2_log.read_text().splitlines():
        intended, started = line.split()
        q2_starts.append((datetime.fromisoformat(intended), datetime.fromisoformat(started)))
    # One django-q2 check starts a batch of schedules within a second or so: count the batches.
    checks = len({round(started.timestamp()) // 5 for _, started in q2_starts})
    return {
        "ours": summary(lateness),
        "django_q2": summary([(started - intended).total_seconds() for intended, started in q2_starts]),
        "django_q2_checks": checks,
        "expected": len(expected),
        "missed": len(expected - set(actual)),
        "duplicates": sum(count - 1 for count in actual.values() if count > 1)
        + sum(count - 1 for count in executions.values() if count > 1),
        "not_started": sum(1 for _, _, started in runs if started is None),
    }


def burst_case(args: argparse.Namespace, clusters: list[subprocess.Popen]) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from jobs.models import JobRun, Schedule
    from jobs.wakeup import wake_dispatchers

    runs_log = Path(settings.DATA_DIR) / "runs.log"
    runs_log.touch()
    clusters.extend(start_clusters(2))
    time.sleep(8)
    slot = (timezone.now() + timedelta(seconds=6)).replace(microsecond=0)
    Schedule.objects.bulk_create(
        [
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
    )
    wake_dispatchers()
    first_visible, all_visible = watch_claim(slot, args.schedules)
    wait_until_idle(timeout=120)
    started = sorted(
        moment for moment in JobRun.objects.filter(slot=slot).values_list("started_at", flat=True) if moment
    )
    per_second = Counter(int((moment - slot).total_seconds()) for moment in started)
    executions = Counter(line.split()[0] for line in runs_log.read_text().splitlines())
    return {
        "schedules": args.schedules,
        "first_visible_ms": first_visible,
        "all_visible_ms": all_visible,
        "started": len(started),
        "last_start_seconds": round((started[-1] - slot).total_seconds(), 3) if started else None,
        "per_second": dict(sorted(per_second.items())),
        "duplicates": sum(count - 1 for count in executions.values() if count > 1),
    }


def watch_claim(slot: datetime, expected: int) -> tuple[float | None, float | None]:
    """Poll the slot's runs every 10 ms from 1 s before to 10 s after it: when the claims became visible."""
    from django.utils import timezone

    from jobs.models import JobRun

    time.sleep(max((slot - timezone.now()).total_seconds() - 1, 0))
    first = every = None
    deadline = slot + timedelta(seconds=10)
    while timezone.now() < deadline and every is None:
        count = JobRun.objects.filter(slot=slot).count()
        offset_ms = round((timezone.now() - slot).total_seconds() * 1000, 1)
        if count and first is None:
            first = offset_ms
        if count >= expected:
            every = offset_ms
        time.sleep(0.01)
    return first, every


def throughput_case(args: argparse.Namespace, clusters: list[subprocess.Popen]) -> dict:
    """Each kind in turn on a fresh qcluster: starts per second, and when every result was recorded.

    ``raw`` is ``async_task`` as django-q2 runs it by default: the cluster's monitor saves each result (a
    Task row, and the ``save_limit`` pruning); ``bare`` is ``async_task(..., save=False)``, which records
    nothing anywhere. Ours records each run's end in its own row, as the run's last statement.
    """
    from django.conf import settings

    data_dir = Path(settings.DATA_DIR)
    rounds = []
    for number in range(1, args.rounds + 1):
        for kind, push in (("ours", push_ours), ("raw", push_raw), ("bare", push_bare)):
            # A fresh qcluster per batch: django-q2 recycles each worker after 500 tasks (a new process),
            # which must not fall inside one side's measured window and not the other's.
            clusters.extend(start_clusters(1))
            warm_up(data_dir / f"warm-{kind}-{number}")
            log = data_dir / f"{kind}-{number}.log"
            released, push_seconds, recorded = push(args.tasks, log)
            starts = sorted(float(line.split()[1]) for line in wait_for_lines(log, args.tasks, timeout=180))
            all_recorded = wait_recorded(recorded, args.tasks, timeout=300) if recorded else starts[-1]
            stop_clusters(clusters)
            clusters.clear()
            span = starts[-1] - starts[0] if len(starts) > 1 else float("nan")
            rounds.append(
                {
                    "round": number,
                    "kind": kind,
                    "push_seconds": round(push_seconds, 3),
                    "started": len(starts),
                    "per_second": round(len(starts) / span, 1),
                    "release_to_last_seconds": round(starts[-1] - released, 3),
                    "release_to_recorded_seconds": round(all_recorded - released, 3),
                    "recorded_per_second": round(len(starts) / (all_recorded - released), 1),
                }
            )
    kinds = ("ours", "raw", "bare")
    start_rate = {kind: max(e["per_second"] for e in rounds if e["kind"] == kind) for kind in kinds}
    record_rate = {kind: max(e["recorded_per_second"] for e in rounds if e["kind"] == kind) for kind in kinds}
    return {
        "tasks": args.tasks,
        "rounds": rounds,
        "ours_per_second": start_rate["ours"],
        "raw_per_second": start_rate["raw"],
        "bare_per_second": start_rate["bare"],
        "ratio": round(start_rate["ours"] / start_rate["raw"], 3),
        "ratio_to_bare": round(start_rate["ours"] / start_rate["bare"], 3),
        "ours_recorded_per_second": record_rate["ours"],
        "raw_recorded_per_second": record_rate["raw"],
        "recorded_ratio": round(record_rate["ours"] / record_rate["raw"], 3),
    }


def warm_up(prefix: Path) -> None:
    """Run a few of each kind and wait for them: the workers are forked and connected before timing."""
    logs = [prefix.with_name(f"{prefix.name}-{kind}.log") for kind in ("ours", "raw")]
    push_ours(8, logs[0])
    push_raw(8, logs[1])
    for log in logs:
        wait_for_lines(log, 8, timeout=90)


def wait_recorded(count_recorded: Callable[[], int], expected: int, *, timeout: float) -> float:
    """The first moment (polled every 20 ms) at which ``expected`` results are recorded."""
    deadline = time.monotonic() + timeout
    while count_recorded() < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return time.time()


def push_ours(count: int, log: Path) -> tuple[float, float, Callable[[], int]]:
    """``count`` queued runs of bench.noop, enqueued in one batch as the dispatcher enqueues a claim.

    Returns when the runs were released to the workers (the commit, after which the batch is pushed in
    one RPUSH), how long preparing them took, and a count of those that have ended.
    """
    from django.db import transaction
    from django.utils import timezone

    from jobs.handoff import enqueue_runs, new_task_id
    from jobs.models import JobRun
    from tenants.models import GLOBAL_OWNER_ID

    now = timezone.now()
    started = time.time()
    with transaction.atomic():
        runs = JobRun.objects.bulk_create(
            [
                JobRun(
                    job_name="bench.noop",
                    owner_id=GLOBAL_OWNER_ID,
                    kwargs={"log": str(log)},
                    slot=now + timedelta(microseconds=number),
                    due_at=now,
                    trigger=JobRun.Trigger.MANUAL,
                    status=JobRun.Status.QUEUED,
                    queued_at=now,
                    task_id=new_task_id(),
                )
                for number in range(count)
            ]
        )
        enqueue_runs((run, None) for run in runs)
        released = time.time()
    ended = JobRun.objects.filter(pk__in=[run.pk for run in runs], status=JobRun.Status.SUCCEEDED)
    return released, released - started, ended.count


def push_raw(count: int, log: Path, *, save: bool = True) -> tuple[float, float, Callable[[], int] | None]:
    """``count`` raw django-q2 tasks of the same trivial function, one ``async_task`` call each.

    ``async_task`` pushes each task on its own (~2-3 ms here), slower than 4 workers run them, so the
    tasks go to a holding queue first and one RENAME hands them all to the cluster's queue at once: the
    workers see the whole batch at one moment, as they see ours.
    """
    from django_q.brokers import get_broker
    from django_q.models import Task
    from django_q.tasks import async_task

    queue = get_broker()
    holding = get_broker(f"{queue.list_key}-holding")
    group = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.time()
    for number in range(count):
        async_task(
            "dispatch_latency_jobs.q_noop", str(log), f"q{number}", broker=holding, group=group, save=save
        )
    released = time.time()
    holding.connection.rename(holding.list_key, queue.list_key)
    return released, released - started, Task.objects.filter(group=group).count if save else None


def push_bare(count: int, log: Path) -> tuple[float, float, None]:
    """The same raw tasks with ``save=False``: django-q2 records nothing of them."""
    return push_raw(count, log, save=False)


if __name__ == "__main__":
    main()

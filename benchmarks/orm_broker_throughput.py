"""Sustained throughput on django-q2's ORM broker: does the queue stay flat at --rate runs per second?

    .venv/bin/python benchmarks/orm_broker_throughput.py [--rate 100] [--seconds 60] [--clusters 2]

Against a scratch PostgreSQL database (re-created; never the main one) it starts --clusters of our
qclusters (--workers each, dispatchers inside, the ORM broker: no REDIS_URL) and creates rate x 60
six-field cron schedules of a trivial job, --rate due in every second. For --seconds it samples, every
second, the tasks waiting in the broker table and the runs queued, running and started; afterwards it
reads every run's lateness (start minus slot). Reported per 10-second window: runs started per second,
lateness p50/p99/max, and the backlog (runs due but not started) at the window's end. The queue is flat when
the backlog does not grow from window to window and the lateness stays put.

Then the ceiling: --drain runs queued at once (as a claim queues them) and drained by the same clusters
(no dispatcher), taking tasks with our batch take (``jobs.djangoq.BatchORM``) and, alternating, with
django-q2's own ORM ``dequeue``; starts per second from the first start to the last.

Results are appended to benchmarks/results/orm_broker_throughput.jsonl.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench_clusters import start_clusters, stop_clusters, wait_for_lines, wait_until_idle
from dispatch_latency import percentile, push_ours, recreate_database
from history import record_run

ROOT = Path(__file__).resolve().parent.parent
WINDOW_SECONDS = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument(
        "--database", default="scheduler_bench_orm_broker", help="scratch database (re-created)"
    )
    parser.add_argument("--rate", type=int, default=100, help="runs due per second")
    parser.add_argument("--seconds", type=int, default=60, help="how long the runs come in")
    parser.add_argument("--clusters", type=int, default=2, help="qclusters, each with a dispatcher")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 workers per cluster")
    parser.add_argument("--conn-max-age", type=int, default=60, help="CONN_MAX_AGE for the clusters")
    parser.add_argument(
        "--drain", type=int, default=2000, help="runs queued at once for the ceiling (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="drain rounds of each way of taking tasks")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    recreate_database(args.server, args.database)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JOBS_", "Q_", "REDIS_"))}
    env |= {
        "DATABASE_URL": f"{args.server}/{args.database}",
        "DATA_DIR": tempfile.mkdtemp(prefix="orm-broker-"),
        "Q_CLUSTER_NAME": f"bench-{uuid.uuid4().hex[:8]}",
        "Q_WORKERS": str(args.workers),
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": str(args.conn_max_age),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    output = subprocess.run(
        [sys.executable, __file__, "--child", *sys.argv[1:]],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    results = json.loads(output.strip().splitlines()[-1])
    report(results, args)
    options = {key: value for key, value in vars(args).items() if key not in {"server", "child"}}
    record_run("orm_broker_throughput", options=options, results=results)


def measure(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import dispatch_latency_jobs  # noqa: F401 - registers bench.noop in this process too
    from django.conf import settings
    from django.utils import timezone
    from django_q.models import OrmQ

    from jobs.models import JobRun, Schedule

    log = Path(settings.DATA_DIR) / "runs.log"
    log.touch()
    clusters = start_clusters(args.clusters)
    try:
        time.sleep(8)  # the clusters fork their workers and start their dispatchers
        began = (timezone.now() + timedelta(seconds=3)).replace(microsecond=0)
        schedules = [
            Schedule(
                job_name="bench.noop",
                key=f"r{number}",
                trigger_kind="cron",
                cron_expression=f"{number % 60} * * * * *",
                overlap_policy="allow",
                kwargs={"log": str(log)},
            )
            for number in range(args.rate * 60)
        ]
        for schedule in schedules:
            schedule.refresh_next_run_at(began - timedelta(microseconds=1))
        Schedule.objects.bulk_create(schedules)
        samples = []
        ended = began + timedelta(seconds=args.seconds)
        while timezone.now() < ended:
            now = timezone.now()
            samples.append(
                {
                    "second": round((now - began).total_seconds(), 1),
                    "broker_waiting": OrmQ.objects.filter(lock__lte=now).count(),
                    "queued": JobRun.objects.filter(status="queued").count(),
                    "running": JobRun.objects.filter(status="running").count(),
                }
            )
            time.sleep(max(1.0 - (timezone.now() - now).total_seconds(), 0))
        Schedule.objects.update(enabled=False)
        wait_until_idle(timeout=300)
        runs = list(
            JobRun.objects.filter(slot__gte=began, slot__lt=ended).values_list("slot", "started_at", "status")
        )
    finally:
        stop_clusters(clusters)
    executions = Counter(line.split()[0] for line in log.read_text().splitlines())
    return {
        "rate": args.rate,
        "seconds": args.seconds,
        "due": len(runs),
        "started": sum(1 for _, started, _ in runs if started),
        "not_started": sum(1 for _, started, _ in runs if not started),
        "duplicates": sum(count - 1 for count in executions.values() if count > 1),
        "windows": windows(runs, began, args.seconds),
        "samples": samples,
        "drain": drain(args) if args.drain else [],
    }


def drain(args: argparse.Namespace) -> list[dict]:
    """Runs queued at once, drained by clusters taking tasks each way in turn: starts per second."""
    from django.conf import settings

    rounds = []
    for number in range(1, args.rounds + 1):
        for way, stock in (("batch take", False), ("django-q2 dequeue", True)):
            clusters = start_clusters(args.clusters, dispatcher=False, stock_orm_dequeue=stock)
            try:
                time.sleep(8)
                warm = Path(settings.DATA_DIR) / f"warm-{number}-{stock}.log"
                push_ours(4 * args.workers * args.clusters, warm)
                wait_for_lines(warm, 4 * args.workers * args.clusters, timeout=120)
                log = Path(settings.DATA_DIR) / f"drain-{number}-{stock}.log"
                released, _ = push_ours(args.drain, log)
                starts = sorted(
                    float(line.split()[1]) for line in wait_for_lines(log, args.drain, timeout=600)
                )
            finally:
                stop_clusters(clusters)
            rounds.append(
                {
                    "round": number,
                    "way": way,
                    "started": len(starts),
                    "per_second": round(len(starts) / (starts[-1] - starts[0]), 1),
                    "release_to_last_seconds": round(starts[-1] - released, 2),
                }
            )
    return rounds


def windows(runs: list[tuple], began, seconds: int) -> list[dict]:
    result = []
    for start in range(0, seconds, WINDOW_SECONDS):
        low, high = began + timedelta(seconds=start), began + timedelta(seconds=start + WINDOW_SECONDS)
        lateness = [
            (started - slot).total_seconds() for slot, started, _ in runs if started and low <= slot < high
        ]
        started_inside = sum(1 for _, started, _ in runs if started and low <= started < high)
        backlog = sum(1 for slot, started, _ in runs if slot < high and (started is None or started >= high))
        result.append(
            {
                "from_second": start,
                "started_per_second": round(started_inside / WINDOW_SECONDS, 1),
                "lateness_p50_ms": round(percentile(lateness, 0.5) * 1000) if lateness else None,
                "lateness_p99_ms": round(percentile(lateness, 0.99) * 1000) if lateness else None,
                "lateness_max_ms": round(max(lateness) * 1000) if lateness else None,
                "backlog_at_end": backlog,
            }
        )
    return result


def report(results: dict, args: argparse.Namespace) -> None:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nORM broker, {args.clusters} qclusters x {args.workers} workers, {args.rate} runs due per second "
        f"for {args.seconds} s (PostgreSQL, CONN_MAX_AGE={args.conn_max_age}, {os.cpu_count()} CPUs, "
        f"load average at the end {load})"
    )
    print("  window   started/s   lateness p50 / p99 / max (ms)   backlog at its end (runs)")
    for window in results["windows"]:
        span = f"{window['from_second']:>3}-{window['from_second'] + WINDOW_SECONDS:<3} s"
        lateness = "{lateness_p50_ms!s:>8} / {lateness_p99_ms!s:>6} / {lateness_max_ms!s:>6}".format(**window)
        print(f"  {span} {window['started_per_second']:>9}   {lateness}        {window['backlog_at_end']:>6}")
    first, last = results["windows"][1], results["windows"][-1]
    growth = last["backlog_at_end"] - first["backlog_at_end"]
    print(
        f"  due {results['due']}, started {results['started']}, not started {results['not_started']}, "
        f"duplicates {results['duplicates']}; backlog from the second window to the last: {growth:+d} runs "
        f"({'flat' if growth <= args.rate else 'GROWING'})"
    )
    if results["drain"]:
        print(f"  ceiling: {args.drain} runs queued at once, drained by the same clusters:")
        for entry in results["drain"]:
            print(
                f"    round {entry['round']} {entry['way']:<18} {entry['per_second']:>6.0f} starts/s, "
                f"release -> last start {entry['release_to_last_seconds']:.2f} s"
            )
        best = {
            way: max(entry["per_second"] for entry in results["drain"] if entry["way"] == way)
            for way in ("batch take", "django-q2 dequeue")
        }
        ours, theirs = best["batch take"], best["django-q2 dequeue"]
        print(
            f"    best rounds: batch take {ours:.0f} / django-q2 dequeue {theirs:.0f} starts/s "
            f"= {ours / theirs:.2f}x"
        )


if __name__ == "__main__":
    main()

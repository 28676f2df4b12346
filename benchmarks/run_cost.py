"""What one run of a trivial job costs: statements, CPU of the worker and of its PostgreSQL backend.

    .venv/bin/python benchmarks/run_cost.py [--runs 3000] [--sqlite] [--profile]

In a database of its own (``scheduler_bench_run_cost`` on the local PostgreSQL, recreated; or a SQLite
file under /tmp) it queues ``--runs`` runs of a trivial job and takes each through
``jobs.runner.execute``, the django-q2 task a worker calls, one after the other in this process, with
connections kept (CONN_MAX_AGE=60) and Django's health checks on, as a production worker. Beside them, the
same number of calls of the same trivial function without the engine: the baseline a raw django-q2 task
pays here. And the floor of any run that is recorded as it starts and as it ends: two prepared one-row
UPDATEs, each committed on its own, on the same connection (PostgreSQL).

CPU time is read from /proc (this process, and the server process behind its connection), so it says
what a run costs the machine even when other work shares it, unlike wall time, which is printed too.
``--profile`` prints cProfile's top functions of the runs.
"""

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "scheduler_bench_run_cost"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true")
    arguments = parser.parse_args()
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-run-cost-")
    os.environ["CONN_MAX_AGE"] = "60"
    os.environ["LOG_LEVEL"] = "WARNING"
    if not arguments.sqlite:
        import psycopg

        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {DATABASE}")
        os.environ["DATABASE_URL"] = f"{SERVER}/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = measure(arguments.runs, profile=arguments.profile)
    from history import record_run

    record_run("run_cost", options=vars(arguments), results=results)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def measure(total: int, *, profile: bool) -> dict:
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from jobs.models import JobRun, Schedule
    from jobs.registry import job
    from jobs.runner import execute
    from tenants.models import GLOBAL_OWNER_ID

    @job("bench.trivial")
    def trivial(ctx) -> None:
        return None

    def bare() -> None:
        return None

    now = timezone.now()
    schedule = Schedule.objects.create(
        job_name="bench.trivial",
        key="cost",
        trigger_kind="interval",
        interval_seconds=60,
        last_status="succeeded",
    )
    runs = JobRun.objects.bulk_create(
        JobRun(
            schedule=schedule,
            job_name="bench.trivial",
            owner_id=GLOBAL_OWNER_ID,
            slot=now + timedelta(microseconds=number),
            due_at=now,
            status=JobRun.Status.QUEUED,
            queued_at=now,
        )
        for number in range(total + 20)
    )
    ids = [run.pk for run in runs]
    for run_id in ids[:19]:  # warm: imports, the worker's watch thread, cached statements
        close_old_connections()
        execute(run_id)
    with CaptureQueriesContext(connection) as statements:
        close_old_connections()
        execute(ids[19])
    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (backend,) = cursor.fetchone()

    profiler = cProfile.Profile() if profile else None
    cpu, server, wall = process_cpu(), backend_cpu(backend), time.perf_counter()
    if profiler:
        profiler.enable()
    for run_id in ids[20:]:
        close_old_connections()  # what django-q2's worker does before every task
        execute(run_id)
    if profiler:
        profiler.disable()
    cpu, server, wall = process_cpu() - cpu, backend_cpu(backend) - server, time.perf_counter() - wall
    bare_cpu, bare_wall = process_cpu(), time.perf_counter()
    for _ in range(total):
        close_old_connections()
        bare()
    bare_cpu, bare_wall = process_cpu() - bare_cpu, time.perf_counter() - bare_wall
    floor = statement_floor(total, backend) if backend else None

    per_run = 1e6 / total
    results = {
        "vendor": connection.vendor,
        "runs": total,
        "statements_per_run": len(statements),
        "worker_cpu_us": round(cpu * per_run),
        "server_cpu_us": round(server * per_run) if backend else None,
        "wall_us": round(wall * per_run),
        "bare_call_cpu_us": round(bare_cpu * per_run, 1),
        "bare_call_wall_us": round(bare_wall * per_run, 1),
    }
    if floor:
        results |= floor
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{connection.vendor}: {total} runs of a trivial job through jobs.runner.execute (load {load})")
    print(f"  statements per run     {results['statements_per_run']}")
    print(f"  worker CPU per run     {results['worker_cpu_us']} us")
    if backend:
        print(f"  server CPU per run     {results['server_cpu_us']} us (its PostgreSQL backend)")
    print(f"  wall time per run      {results['wall_us']} us")
    print(f"  bare call, no engine   {results['bare_call_cpu_us']} us CPU")
    if floor:
        print(
            f"  floor: two one-row UPDATEs, each committed, on the same connection: "
            f"{floor['floor_worker_cpu_us']} us worker + {floor['floor_server_cpu_us']} us server CPU, "
            f"{floor['floor_wall_us']} us wall"
        )
        engine = results["worker_cpu_us"] + results["server_cpu_us"]
        least = floor["floor_worker_cpu_us"] + floor["floor_server_cpu_us"]
        print(f"  a run costs {engine / least:.2f}x that floor in CPU")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return results


def statement_floor(total: int, backend: int) -> dict:
    """What any two committed statements per run cost here: two prepared one-row UPDATEs of a scratch
    table, each in its own transaction, as the flip and the finish are. Nothing that records a run's
    start before the job and its end after it can cost less per run on this machine and database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor (id integer PRIMARY KEY, value integer)")
        cursor.execute("INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT DO NOTHING")
    sql = "UPDATE bench_floor SET value = value + 1 WHERE id = %s"
    database = connection.connection  # psycopg's own, in autocommit as Django keeps it
    cpu, server, wall = process_cpu(), backend_cpu(backend), time.perf_counter()
    for _ in range(total):
        for _statement in range(2):
            database.execute(sql, [1], prepare=True)
    cpu, server, wall = process_cpu() - cpu, backend_cpu(backend) - server, time.perf_counter() - wall
    per_run = 1e6 / total
    return {
        "floor_worker_cpu_us": round(cpu * per_run),
        "floor_server_cpu_us": round(server * per_run),
        "floor_wall_us": round(wall * per_run),
    }


if __name__ == "__main__":
    main()

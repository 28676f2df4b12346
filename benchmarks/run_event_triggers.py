"""What the run-metrics triggers cost on the engine's hot path, and what a scrape costs, in one run.

    .venv/bin/python benchmarks/run_event_triggers.py                      # PostgreSQL, 3000 runs
    .venv/bin/python benchmarks/run_event_triggers.py --runs 10000 --sqlite

In a database of its own (``bench_run_events`` on the local PostgreSQL, recreated each time; or a SQLite
file under /tmp) it inserts queued runs, then takes each through the runner's two statements (the
queued → running flip and the success record, one autocommit round trip each), once with the triggers of
``ops.run_events`` installed and once without, alternating in blocks so machine load hits both alike. It
prints the time per run for both and their ratio, then the time of one fold of the events and of one
/metrics scrape.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgres://postgres@127.0.0.1:5432/bench_run_events"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--sqlite", action="store_true")
    arguments = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bench-run-events-")
    os.environ["DATA_DIR"] = data_dir
    if not arguments.sqlite:
        import psycopg

        with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS bench_run_events")
            admin.execute("CREATE DATABASE bench_run_events")
        os.environ["DATABASE_URL"] = PG_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    measure(arguments.runs)


def measure(total: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from jobs.models import JobRun
    from jobs.outcomes import record_success
    from ops.run_events import install_run_event_triggers
    from ops.run_metrics import roll_up_run_events

    def drop_triggers() -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("DROP TRIGGER IF EXISTS ops_run_event ON jobs_jobrun")
            else:
                for name in ("started", "finished", "inserted_started", "inserted_finished"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS ops_run_{name}")

    def run_block(count: int) -> float:
        now = timezone.now()
        runs = JobRun.objects.bulk_create(
            JobRun(job_name="bench.tick", owner_id=0, slot=now, due_at=now, queued_at=now)
            for _ in range(count)
        )
        started = time.perf_counter()
        for run in runs:
            begun = timezone.now()
            run.mark_running(now=begun, worker="bench")
            record_success(run, now=begun + timedelta(milliseconds=5))
        return (time.perf_counter() - started) / count

    block = max(total // 10, 50)
    with_triggers, without = [], []
    for _ in range(5):
        install_run_event_triggers("default")
        with_triggers.append(run_block(block))
        drop_triggers()
        without.append(run_block(block))
    install_run_event_triggers("default")
    on, off = statistics.median(with_triggers), statistics.median(without)
    print(f"{connection.vendor}: {block * 5} runs each way, flip + finish per run (median of 5 blocks)")
    print(f"  without triggers  {off * 1000:.3f} ms")
    print(f"  with triggers     {on * 1000:.3f} ms   ratio {on / off:.2f}")

    started = time.perf_counter()
    folded = roll_up_run_events()
    print(f"  fold of {folded} events: {(time.perf_counter() - started) * 1000:.0f} ms")
    with override_settings(METRICS_TOKEN="bench", ALLOWED_HOSTS=["*"]):  # noqa: S106 - a throwaway database
        client = Client()
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench")
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench").status_code == 200
            timings.append(time.perf_counter() - started)
    print(f"  /metrics scrape (nothing to fold): {statistics.median(timings) * 1000:.0f} ms median of 5")


if __name__ == "__main__":
    main()

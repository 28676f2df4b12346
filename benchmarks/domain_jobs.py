"""One low-stock run over 10,000 owners and 1,000,000 stock items on PostgreSQL: time, memory, queries.

    .venv/bin/python benchmarks/domain_jobs.py [--owners 10000] [--items 1000000] [--low 0.05]

The data lives in a database of its own (``--database``, dropped and re-created; never the main one),
generated server-side with INSERT … SELECT generate_series, items spread unevenly over owners (a few
owners hold thousands, most a few dozen) so that "queries per owner do not grow with its items" is
visible. E-mails go to Django's dummy backend.

It measures, in the same process:
  1. the first run (every low item gets an alert, every owner with one gets a digest e-mail),
  2. a second run (nothing new: the steady state of a 6-hourly job),
  3. the baseline the sweep avoids: loading every stock item at once, as a naive job would.
Peak RSS is read from /proc (VmHWM, reset before each phase through /proc/self/clear_refs).
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--low", type=float, default=0.05, help="share of items below their reorder level")
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument("--database", default="domain_jobs_bench", help="scratch database (re-created)")
    parser.add_argument("--no-baseline", action="store_true", help="skip loading all items at once")
    return parser.parse_args()


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # "5" resets VmHWM to the current RSS (Linux ≥ 4.0)


def recreate_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def generate(owners: int, items: int, low: float) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tenants_owner (name, slug, timezone, contact_email, is_active, created_at)
            SELECT 'Owner ' || n, 'bench-' || n,
                   (ARRAY['UTC', 'Europe/London', 'America/New_York', 'Australia/Lord_Howe'])[1 + n %% 4],
                   'ops' || n || '@bench.test', true, now()
            FROM generate_series(1, %s) AS n
            """,
            [owners],
        )
        cursor.execute("SELECT min(id), max(id) FROM tenants_owner WHERE slug LIKE 'bench-%%'")
        first_id, last_id = cursor.fetchone()
        # random()^3 skews the spread: low owner ids get thousands of items, most owners a few dozen.
        cursor.execute(
            """
            INSERT INTO inventory_stockitem (owner_id, sku, name, quantity, reorder_level, updated_at)
            SELECT %s + floor((%s - %s + 1) * power(random(), 3))::int,
                   'SKU-' || n, 'Item ' || n,
                   CASE WHEN random() < %s THEN floor(random() * 20)::int
                        ELSE 20 + floor(random() * 500)::int END,
                   20, now()
            FROM generate_series(1, %s) AS n
            """,
            [first_id, last_id, first_id, low, items],
        )
        cursor.execute("ANALYZE")


class QueryCounter:
    """connection.execute_wrapper that counts statements (DEBUG stays off, nothing is kept)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measured_run(label: str, now: datetime, items_per_owner: dict[int, int]) -> dict:
    from django.db import connection

    from inventory.low_stock import check_owner
    from notifications.sweep import sweep_owners

    counter = QueryCounter()
    per_owner: list[tuple[int, int, bool]] = []

    def step(owner) -> dict[str, int]:
        before = counter.count
        counts = check_owner(owner, now=now)
        per_owner.append((owner.pk, counter.count - before, counts["digests"] > 0))
        return counts

    reset_peak_rss()
    rss_before = memory_kib("VmRSS")
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        summary = sweep_owners(step)
    elapsed = time.perf_counter() - started
    peak = memory_kib("VmHWM")

    print(f"\n== {label}")
    print(
        f"owners {summary['owners']:,}  failed {summary['owners_failed']}  alerts opened "
        f"{summary.get('alerts_opened', 0):,}  resolved {summary.get('alerts_resolved', 0):,}  "
        f"digests {summary.get('digests', 0):,}  e-mails {summary.get('emails_sent', 0):,}"
    )
    print(
        f"time {elapsed:.1f} s ({elapsed / summary['owners'] * 1000:.2f} ms per owner)  "
        f"queries {counter.count:,} ({counter.count / summary['owners']:.2f} per owner on average)"
    )
    print(
        f"RSS before {rss_before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
        f"(+{(peak - rss_before) / 1024:.1f} MiB)"
    )
    by_kind: dict[tuple[bool, str], list[int]] = defaultdict(list)
    for owner_id, queries, had_digest in per_owner:
        size = items_per_owner.get(owner_id, 0)
        bucket = "<50 items" if size < 50 else "50-999 items" if size < 1000 else "≥1000 items"
        by_kind[(had_digest, bucket)].append(queries)
    print("queries per owner, by owner size (constant within a row = no N+1):")
    for (had_digest, bucket), counts in sorted(by_kind.items()):
        print(
            f"  {'with new alerts' if had_digest else 'nothing new    '}  {bucket:>13}: "
            f"owners {len(counts):>6,}  min {min(counts)}  median {statistics.median(counts):.0f}  "
            f"max {max(counts)}"
        )
    return {"time": elapsed, "queries": counter.count, "peak_growth": peak - rss_before}


def load_everything_baseline() -> dict:
    from inventory.models import StockItem

    reset_peak_rss()
    rss_before = memory_kib("VmRSS")
    started = time.perf_counter()
    everything = list(StockItem.objects.all())
    low = sum(1 for item in everything if item.is_low)
    elapsed = time.perf_counter() - started
    peak = memory_kib("VmHWM")
    print("\n== baseline: a naive job loading every stock item at once")
    print(
        f"{len(everything):,} items, {low:,} low, time {elapsed:.1f} s, "
        f"peak +{(peak - rss_before) / 1024:.1f} MiB"
    )
    del everything
    return {"time": elapsed, "peak_growth": peak - rss_before}


def main() -> None:
    args = parse_args()
    recreate_database(args.server, args.database)
    # Point the project's settings (which read the environment) at the scratch database before setup.
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("DATA_DIR", f"/tmp/{args.database}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    call_command("migrate", verbosity=0)

    started = time.perf_counter()
    generate(args.owners, args.items, args.low)
    print(
        f"generated {args.owners:,} owners and {args.items:,} items in {time.perf_counter() - started:.1f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT owner_id, count(*) FROM inventory_stockitem GROUP BY owner_id")
        items_per_owner = dict(cursor.fetchall())
    sizes = sorted(items_per_owner.values())
    print(f"items per owner: min {sizes[0]}  median {sizes[len(sizes) // 2]}  max {sizes[-1]:,}")

    now = datetime.now(UTC)
    first = measured_run("run 1: every low item is new", now, items_per_owner)
    steady = measured_run("run 2: nothing new (steady state)", now, items_per_owner)
    if not args.no_baseline:
        naive = load_everything_baseline()
        print(
            f"\nratio: run 1 peak memory growth / naive load = "
            f"{first['peak_growth'] / max(naive['peak_growth'], 1):.3f}; "
            f"run 2 time / run 1 time = {steady['time'] / first['time']:.2f}"
        )


if __name__ == "__main__":
    main()

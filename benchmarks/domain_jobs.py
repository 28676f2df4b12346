"""The domain jobs at scale on PostgreSQL: 10,000 owners, 1,000,000 stock items, their billing rows.

    .venv/bin/python benchmarks/domain_jobs.py [--owners 10000] [--items 1000000] [--low 0.05]

The data lives in a database of its own (``--database``, dropped and re-created; never the main one),
generated server-side with INSERT … SELECT generate_series: stock items spread unevenly over owners (a few
owners hold thousands, most a few dozen), and per owner an active subscription, often a trial, and a few
invoices, some unpaid and overdue. E-mails go to Django's dummy backend (each one is still rendered).

Each run is what the job does in a global run (``jobs.owner_sweep``: find the owners concerned with set
queries, then check them a chunk at a time), measured in the same process:

  low stock  1. first run: every low item gets an alert, every owner with one a digest e-mail
             2. steady state: the same moment again, nothing new (the 6-hourly run on a quiet day)
             3. a few changes: --changes items go low or recover, then a run
  billing    1. first run: trials expired and reminded, subscriptions past due, invoices overdue
             2. steady state: the same moment again, nothing new
             3. an hour later (the next hourly run)
  baseline   a naive job loading every stock item (and every subscription and invoice) at once

and prints time, queries, peak RSS growth (VmHWM, reset before each phase through /proc/self/clear_refs)
and the ratios to the naive baseline. Targets: low-stock steady state <= 5 s with peak growth <= 20 MiB,
first run <= 60 s. Results are appended to benchmarks/results/domain_jobs.jsonl.
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from history import record_run

STEADY_TARGET_S, FIRST_TARGET_S, MEMORY_TARGET_MIB = 5.0, 60.0, 20.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--low", type=float, default=0.05, help="share of items below their reorder level")
    parser.add_argument("--changes", type=int, default=1000, help="items changed before the third run")
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument(
        "--database", default="scheduler_bench_domain_jobs", help="scratch database (re-created)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip loading all rows at once")
    parser.add_argument("--no-billing", action="store_true", help="measure the low-stock job only")
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
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def generate_stock(owners: int, items: int, low: float) -> None:
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


def generate_billing(now: datetime) -> None:
    """Per owner: an active subscription (10% with the period ended), a trial for 30% of owners (ending
    between a day ago and two weeks ahead), five invoices of the active subscription over the last two
    months (15% unpaid)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_subscription
                (owner_id, plan, status, trial_ends_at, current_period_end, created_at)
            SELECT id, 'business', 'active', NULL,
                   %(now)s + (CASE WHEN random() < 0.1 THEN -random() * 3 ELSE 1 + random() * 27 END)
                             * interval '1 day',
                   %(now)s
            FROM tenants_owner WHERE slug LIKE 'bench-%%'
            """,
            {"now": now},
        )
        cursor.execute(
            """
            INSERT INTO billing_subscription
                (owner_id, plan, status, trial_ends_at, current_period_end, created_at)
            SELECT id, 'starter', 'trial', %(now)s + (random() * 15 - 1) * interval '1 day', NULL, %(now)s
            FROM tenants_owner WHERE slug LIKE 'bench-%%' AND random() < 0.3
            """,
            {"now": now},
        )
        cursor.execute(
            """
            INSERT INTO billing_invoice (owner_id, subscription_id, number, amount, currency, due_date,
                                         paid_at, dunning, created_at)
            SELECT s.owner_id, s.id, 'INV-' || s.id || '-' || n, 49.00, 'EUR',
                   (%(now)s - (n * 12 + floor(random() * 12))::int * interval '1 day')::date,
                   CASE WHEN random() < 0.85 THEN %(now)s ELSE NULL END, 0, %(now)s
            FROM billing_subscription s, generate_series(0, 4) AS n
            WHERE s.status = 'active'
            """,
            {"now": now},
        )
        cursor.execute("ANALYZE")


class QueryCounter:
    """connection.execute_wrapper that counts statements (DEBUG stays off, nothing is kept)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measured_run(label: str, check, now: datetime) -> dict:
    """One global run of a domain job, as ``jobs.owner_sweep.sweep_for_run`` does it, with a fixed ``now``."""
    from django.db import connection

    from jobs.owner_sweep import sweep_owners

    counter = QueryCounter()
    reset_peak_rss()
    rss_before = memory_kib("VmRSS")
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        owner_ids = check.owners_to_check(now=now)
        found = time.perf_counter() - started
        summary = sweep_owners(lambda owners: check.check_owners(owners, now=now), owner_ids)
    elapsed = time.perf_counter() - started
    growth_mib = (memory_kib("VmHWM") - rss_before) / 1024
    counts = {
        key: value for key, value in summary.items() if key not in {"owners", "owners_failed", "failures"}
    }
    print(f"\n== {label}")
    print(
        f"owners checked {summary['owners']:,}  failed {summary['owners_failed']}  "
        + "  ".join(f"{key} {value:,}" for key, value in counts.items())
    )
    print(
        f"time {elapsed:.2f} s (finding the owners {found:.2f} s)  queries {counter.count:,}  "
        f"RSS before {rss_before / 1024:.1f} MiB, peak growth +{growth_mib:.1f} MiB"
    )
    return {
        "seconds": round(elapsed, 3),
        "find_seconds": round(found, 3),
        "queries": counter.count,
        "peak_growth_mib": round(growth_mib, 1),
        "owners": summary["owners"],
        "owners_failed": summary["owners_failed"],
        **counts,
    }


def change_items(count: int) -> None:
    """Half of ``count`` items with an open alert recover, half of the fine items go low."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE inventory_stockitem SET quantity = 100 WHERE id IN (
                SELECT item_id FROM inventory_lowstockalert WHERE status = 'open' ORDER BY random() LIMIT %s)
            """,
            [count // 2],
        )
        cursor.execute(
            """
            UPDATE inventory_stockitem SET quantity = 1 WHERE id IN (
                SELECT id FROM inventory_stockitem WHERE quantity >= reorder_level ORDER BY random() LIMIT %s)
            """,
            [count - count // 2],
        )


def load_everything_baseline(billing: bool) -> dict:
    from billing.models import Invoice, Subscription
    from inventory.models import StockItem

    reset_peak_rss()
    rss_before = memory_kib("VmRSS")
    started = time.perf_counter()
    everything = list(StockItem.objects.all())
    low = sum(1 for item in everything if item.is_low)
    elapsed = time.perf_counter() - started
    growth_mib = (memory_kib("VmHWM") - rss_before) / 1024
    print("\n== baseline: a naive job loading every stock item at once")
    print(f"{len(everything):,} items, {low:,} low, time {elapsed:.1f} s, peak growth +{growth_mib:.1f} MiB")
    del everything
    result = {"stock_seconds": round(elapsed, 3), "stock_peak_growth_mib": round(growth_mib, 1)}
    if billing:
        reset_peak_rss()
        rss_before = memory_kib("VmRSS")
        started = time.perf_counter()
        rows = list(Subscription.objects.all()) + list(Invoice.objects.all())
        elapsed = time.perf_counter() - started
        growth_mib = (memory_kib("VmHWM") - rss_before) / 1024
        print(f"billing: {len(rows):,} subscriptions and invoices, {elapsed:.1f} s, +{growth_mib:.1f} MiB")
        del rows
        result |= {"billing_seconds": round(elapsed, 3), "billing_peak_growth_mib": round(growth_mib, 1)}
    return result


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(stock: dict, billing: dict | None, naive: dict | None) -> None:
    first, steady, changed = stock["first"], stock["steady"], stock["changes"]
    print("\n== summary")
    print(
        f"low stock first run {first['seconds']:.1f} s (target <= {FIRST_TARGET_S:.0f} s: "
        f"{verdict(first['seconds'] <= FIRST_TARGET_S)}), steady state {steady['seconds']:.2f} s "
        f"(target <= {STEADY_TARGET_S:.0f} s: {verdict(steady['seconds'] <= STEADY_TARGET_S)}), "
        f"peak growth +{max(first['peak_growth_mib'], steady['peak_growth_mib']):.1f} MiB "
        f"(target <= {MEMORY_TARGET_MIB:.0f} MiB: "
        f"{verdict(max(first['peak_growth_mib'], steady['peak_growth_mib']) <= MEMORY_TARGET_MIB)})"
    )
    if naive:
        base_s, base_mib = naive["stock_seconds"], max(naive["stock_peak_growth_mib"], 0.1)
        print(
            f"ratios to the naive load of every item ({base_s:.1f} s, +{base_mib:.0f} MiB): "
            f"steady state {steady['seconds'] / base_s:.3f}x the time, "
            f"a few changes {changed['seconds'] / base_s:.3f}x, first run {first['seconds'] / base_s:.2f}x; "
            f"peak memory growth {max(first['peak_growth_mib'], steady['peak_growth_mib']) / base_mib:.3f}x"
        )
    if billing:
        line = "  ".join(
            f"{label} {billing[label]['seconds']:.2f} s" for label in ("first", "steady", "hour_later")
        )
        print(
            f"billing: {line}, peak growth +{max(run['peak_growth_mib'] for run in billing.values()):.1f} MiB"
        )
        if naive:
            print(
                f"ratio to the naive load of every subscription and invoice "
                f"({naive['billing_seconds']:.2f} s): "
                f"steady state {billing['steady']['seconds'] / naive['billing_seconds']:.2f}x"
            )


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

    from billing import trials_and_payments
    from inventory import low_stock

    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    call_command("migrate", verbosity=0)

    now = datetime.now(UTC)
    started = time.perf_counter()
    generate_stock(args.owners, args.items, args.low)
    if not args.no_billing:
        generate_billing(now)
    print(
        f"generated {args.owners:,} owners and {args.items:,} items in {time.perf_counter() - started:.1f} s"
    )

    stock = {
        "first": measured_run("low stock, run 1: every low item is new", low_stock, now),
        "steady": measured_run("low stock, run 2: nothing new (steady state)", low_stock, now),
    }
    change_items(args.changes)
    stock["changes"] = measured_run(
        f"low stock, run 3: {args.changes:,} items changed", low_stock, now + timedelta(hours=6)
    )
    billing = None
    if not args.no_billing:
        billing = {
            "first": measured_run("billing, run 1: everything due is new", trials_and_payments, now),
            "steady": measured_run("billing, run 2: nothing new (steady state)", trials_and_payments, now),
            "hour_later": measured_run(
                "billing, run 3: an hour later", trials_and_payments, now + timedelta(hours=1)
            ),
        }
    naive = None if args.no_baseline else load_everything_baseline(billing is not None)
    report(stock, billing, naive)
    print(f"load average at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    record_run(
        "domain_jobs",
        options={key: value for key, value in vars(args).items() if key != "server"},
        results={"low_stock": stock, "billing": billing, "naive": naive},
    )


if __name__ == "__main__":
    main()

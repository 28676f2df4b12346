"""Admin pages at scale: our admin beside the stock ModelAdmin, on the same million job runs.

    .venv/bin/python benchmarks/admin_pages.py [--runs 1000000] [--schedules 10000] [--owners 200]

Builds (once, then reuses) its own PostgreSQL database ``scheduler_bench_admin`` with ``--runs`` job runs
over ``--schedules`` schedules, generated inside the database with INSERT … SELECT generate_series, then
prints for each page: the median time over ``--repeat`` requests after one warm-up request and the number
of SQL queries, for our admin and for a stock ModelAdmin (list_filter on status, job and owner,
date_hierarchy on slot, icontains search) mounted on the same data. The target is under 300 ms and the same
query count on every page of ours.
"""

import argparse
import os
import statistics
import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from history import record_run

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/scheduler_bench_admin"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rebuild", action="store_true", help="drop and regenerate the data")
    parser.add_argument("--generate-only", action="store_true", help="build the data, measure nothing")
    return parser.parse_args()


def configure(database_url: str) -> None:
    """Point Django at the benchmark database (created when missing) before settings load."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    # The benchmark is a client of config/settings.py like any process: it sets the environment first.
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DATA_DIR", "/tmp/scheduler-bench-admin")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _column_defaults(model, explicit: dict[str, str]) -> tuple[list[str], list[str], list]:
    """Columns and SQL for an INSERT … SELECT: the ``explicit`` expressions, model defaults for the rest."""
    from django.db import connection

    columns, expressions, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in explicit:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in explicit:
            expressions.append(explicit[field.column])
            continue
        default = field.get_default() if field.has_default() else None
        if default is None and not field.null:
            default = "" if field.get_internal_type() in ("CharField", "TextField", "SlugField") else default
        expressions.append("%s")
        params.append(field.get_db_prep_save(default, connection))
    return columns, expressions, params


def generate(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from jobs.models import JobRun, Schedule
    from jobs.registry import registered_jobs
    from tenants.models import Owner

    call_command("migrate", verbosity=0)
    if not args.rebuild and JobRun.objects.filter(pk=args.runs).exists():
        print(f"reusing {args.runs:,} runs already generated")
        return
    started = time.perf_counter()
    job_names = [definition.name for definition in registered_jobs()]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE jobs_jobrun, jobs_schedule RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM tenants_owner WHERE id > 0")
        columns, expressions, params = _column_defaults(
            Owner,
            {
                "id": "g",
                "name": "'Owner ' || g",
                "slug": "'owner-' || g",
                "contact_email": "'ops' || g || '@example.test'",
                "created_at": "now()",
            },
        )
        cursor.execute(
            f"INSERT INTO tenants_owner ({', '.join(columns)}) SELECT {', '.join(expressions)} "
            f"FROM generate_series(1, %s) AS g",
            [*params, args.owners],
        )
        columns, expressions, params = _column_defaults(
            Schedule,
            {
                "job_name": "(%s::text[])[1 + g %% %s]",
                "owner_id": "1 + g %% %s",
                "key": "'k' || g",
                "cron_expression": "(g %% 60) || ' * * * *'",
                "next_run_at": "date_trunc('hour', now()) + (g %% 1440) * interval '1 minute'",
                "last_run_at": "date_trunc('hour', now()) - (g %% 60) * interval '1 minute'",
                "last_status": "CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'succeeded' END",
                "created_at": "now() - interval '400 days'",
                "updated_at": "now()",
            },
        )
        cursor.execute(
            f"INSERT INTO jobs_schedule ({', '.join(columns)}) SELECT {', '.join(expressions)} "
            f"FROM generate_series(1, %s) AS g",
            [job_names, len(job_names), args.owners, *params, args.schedules],
        )
        # Run g belongs to schedule 1 + g % schedules; slots step back 30 s per run from now (a year for 1M).
        columns, expressions, params = _column_defaults(
            JobRun,
            {
                "schedule_id": "s.id",
                "job_name": "s.job_name",
                "owner_id": "s.owner_id",
                "slot": "date_trunc('minute', now()) - g * interval '30 seconds'",
                "due_at": "date_trunc('minute', now()) - g * interval '30 seconds'",
                "trigger": "'scheduled'",
                "status": "CASE WHEN g %% 97 = 0 THEN 'failed' WHEN g %% 89 = 0 THEN 'skipped' "
                "ELSE 'succeeded' END",
                "attempt": "1",
                "queued_at": "date_trunc('minute', now()) - g * interval '30 seconds'",
                "started_at": "date_trunc('minute', now()) - g * interval '30 seconds'",
                "finished_at": "date_trunc('minute', now()) - g * interval '30 seconds' "
                "+ (g %% 120) * interval '1 second'",
                "duration": "(g %% 120) * interval '1 second'",
                "created_at": "date_trunc('minute', now()) - g * interval '30 seconds'",
            },
        )
        cursor.execute(
            f"INSERT INTO jobs_jobrun ({', '.join(columns)}) SELECT {', '.join(expressions)} "
            f"FROM generate_series(1, %s) AS g JOIN jobs_schedule s ON s.id = 1 + g %% %s",
            [*params, args.runs, args.schedules],
        )
    with connection.cursor() as cursor:
        # Fresh statistics and visibility map, as autovacuum would leave a table in production.
        cursor.execute("VACUUM ANALYZE")
    print(
        f"generated {args.owners} owners, {args.schedules:,} schedules, {args.runs:,} runs "
        f"in {time.perf_counter() - started:.0f} s"
    )


def stock_urlconf():
    """A second admin site with plain ModelAdmins, as a project would start, beside ours."""
    from django.contrib import admin
    from django.urls import include, path

    from jobs.models import JobRun, Schedule

    class StockJobRunAdmin(admin.ModelAdmin):
        list_display = ["id", "job_name", "owner", "status", "slot", "duration", "attempt"]
        list_filter = ["status", "job_name", "owner"]
        date_hierarchy = "slot"
        search_fields = ["job_name", "owner__name"]
        ordering = ["-slot"]
        # A run's page would otherwise offer every run as its "retry of" (a select of a million options,
        # minutes per request): any project has to set this much.
        raw_id_fields = ["retry_of"]

    class StockScheduleAdmin(admin.ModelAdmin):
        list_display = ["id", "job_name", "owner", "key", "cron_expression", "next_run_at", "last_status"]
        list_filter = ["job_name", "enabled", "owner"]
        search_fields = ["job_name", "label", "owner__name"]

    site = admin.AdminSite(name="stock")
    site.register(JobRun, StockJobRunAdmin)
    site.register(Schedule, StockScheduleAdmin)
    module = types.ModuleType("bench_admin_urls")
    module.urlpatterns = [path("stock/", site.urls), path("", include("config.urls"))]
    sys.modules[module.__name__] = module
    return module.__name__


def pages(args: argparse.Namespace) -> list[tuple[str, str, str | None]]:
    """(name, our URL, the stock admin's URL or None when it has no such page)."""
    from django.utils import timezone

    from jobs.registry import registered_jobs

    job = registered_jobs()[0].name
    day = timezone.localtime() - timezone.timedelta(days=3)
    drill = f"slot__year={day.year}&slot__month={day.month}&slot__day={day.day}"
    term = job.split(".")[-1][:6]
    runs, schedules = "/admin/jobs/jobrun/", "/admin/jobs/schedule/"
    stock_runs, stock_schedules = "/stock/jobs/jobrun/", "/stock/jobs/schedule/"
    return [
        ("runs, page 1", runs, stock_runs),
        ("runs, page 500", f"{runs}?p=500", f"{stock_runs}?p=500"),
        ("runs, status=failed", f"{runs}?status__exact=failed", f"{stock_runs}?status__exact=failed"),
        (
            "runs, status=failed p.50",
            f"{runs}?status__exact=failed&p=50",
            f"{stock_runs}?status__exact=failed&p=50",
        ),
        ("runs, job filter", f"{runs}?job={job}", f"{stock_runs}?job_name__exact={job}"),
        ("runs, owner filter", f"{runs}?owner_id=7", f"{stock_runs}?owner__id__exact=7"),
        ("runs, date drill-down", f"{runs}?{drill}", f"{stock_runs}?{drill}"),
        ("runs, search", f"{runs}?q={term}", f"{stock_runs}?q={term}"),
        ("runs, one run", f"{runs}1/change/", f"{stock_runs}1/change/"),
        ("schedules, page 1", schedules, stock_schedules),
        ("schedules, page 50", f"{schedules}?p=50", f"{stock_schedules}?p=50"),
        ("schedules, job filter", f"{schedules}?job={job}", f"{stock_schedules}?job_name__exact={job}"),
        ("schedules, search", f"{schedules}?q={term}", f"{stock_schedules}?q={term}"),
        ("dashboard", "/admin/ops/dashboard/", None),
        ("dashboard, page 20", "/admin/ops/dashboard/?page=20", None),
        ("dashboard, live refresh", "/admin/ops/dashboard/live/", None),
        ("owner page", "/admin/tenants/owner/7/change/", None),
        ("backups list", "/admin/backups/backup/", None),
    ]


@dataclass(frozen=True)
class Timing:
    best_ms: float  # the least disturbed request: the figure to compare on a shared, busy machine
    median_ms: float
    queries: int

    def __str__(self) -> str:
        return f"{self.best_ms:7.1f} {self.median_ms:7.1f} {self.queries:7d}"


BLANK = f"{'-':>7} {'-':>7} {'-':>7}"


def measure(client, url: str, repeat: int) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    # Counted now: the next request's request_started signal empties the connection's query log.
    query_count = len(queries)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        timings.append(time.perf_counter() - started)
    return Timing(min(timings) * 1000, statistics.median(timings) * 1000, query_count)


def staff_client():
    """A staff member of one owner (1/``--owners`` of the runs): every list is scoped to that owner.

    The membership is all they hold: its role is their permissions (tenants.permissions)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tenants.models import Membership

    user, created = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    if created:
        Membership.objects.create(user=user, owner_id=7)
    client = Client()
    client.force_login(user)
    return client


STAFF_PAGES = [
    ("staff: runs, page 1", "/admin/jobs/jobrun/"),
    ("staff: runs, page 50", "/admin/jobs/jobrun/?p=50"),
    ("staff: runs, status=failed", "/admin/jobs/jobrun/?status=failed"),
    ("staff: schedules", "/admin/jobs/schedule/"),
    ("staff: dashboard", "/admin/ops/dashboard/"),
    ("staff: dashboard, live refresh", "/admin/ops/dashboard/live/"),
]


def main() -> None:
    args = parse_args()
    configure(args.database_url)
    generate(args)
    if args.generate_only:
        return

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    columns = f"{'best':>7} {'median':>7} {'queries':>7}"
    print(f"\n{'':28} {'ours (ms)':^23}   {'stock ModelAdmin (ms)':^23}")
    print(f"{'page':28} {columns}   {columns}   ratio")
    worst = 0.0
    measured: dict[str, dict] = {}
    with override_settings(ROOT_URLCONF=stock_urlconf(), DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        for name, ours_url, stock_url in pages(args):
            ours = measure(client, ours_url, args.repeat)
            worst = max(worst, ours.best_ms)
            if stock_url is None:
                print(f"{name:28} {ours}   {BLANK}")
                measured[name] = {"ours": asdict(ours)}
                continue
            stock = measure(client, stock_url, args.repeat)
            print(f"{name:28} {ours}   {stock}   {stock.best_ms / ours.best_ms:5.1f}x")
            measured[name] = {"ours": asdict(ours), "stock": asdict(stock)}
        staff = staff_client()
        for name, url in STAFF_PAGES:
            ours = measure(staff, url, args.repeat)
            worst = max(worst, ours.best_ms)
            print(f"{name:28} {ours}   {BLANK}")
            measured[name] = {"ours": asdict(ours)}
    print(f"\nslowest page of ours (best of {args.repeat}): {worst:.0f} ms (target: under 300 ms)")
    print(f"load average at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    options = {key: value for key, value in vars(args).items() if key != "database_url"}
    record_run(
        "admin_pages", options=options, results={"slowest_ours_ms": round(worst, 1), "pages": measured}
    )


if __name__ == "__main__":
    main()

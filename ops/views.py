"""The operations dashboard and its live parts, wrapped in ``admin_view`` (staff only).

It shows the rows of the viewer's owners only (``visible_owner_ids``), every time in the viewer's zone
(``tenants.viewer_zone``, UTC on hover); the engine section (qclusters, dispatchers, the broker), which
describes the servers, only to superusers. ``dashboard_live`` answers the page's poller with the counts and
the live sections rendered again (the same templates), so the page refreshes without a reload.
"""

from datetime import datetime, timedelta, tzinfo

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ops import activity
from ops import dashboard as data
from ops.missed import find_missed_runs
from ops.svg import TimelineMark, duration_line, outcome_bars, outcome_histogram, timeline
from ops.upcoming import upcoming
from tenants.display import WEEKDAY_AND_TIME, human_duration, human_size, local_time, time_html
from tenants.forms import ViewerZoneForm
from tenants.scoping import visible_owner_ids
from tenants.viewer_zone import SESSION_KEY, owner_zone_name

# How often the page asks for its live parts (seconds; ?refresh=N chooses, 0 turns it off).
REFRESH_SECONDS = 10
MAX_REFRESH_SECONDS = 300
# The parts of the page the poller replaces, by element id, and the template each is drawn with.
LIVE_SECTIONS = {
    "ops-summary": "admin/ops/dashboard/summary.html",
    "ops-per-minute": "admin/ops/dashboard/per_minute.html",
    "ops-failing": "admin/ops/dashboard/failing.html",
}
ENGINE_SECTION = {"ops-engine": "admin/ops/dashboard/engine.html"}


class ChangeLinks:
    """Admin change-page URLs by primary key from one ``reverse()``: the dashboard links hundreds of rows,
    and a reverse per row costs more than the page's queries."""

    def __init__(self, url_name: str) -> None:
        self.prefix, self.suffix = reverse(url_name, args=["0"]).rsplit("/0/", 1)

    def __call__(self, pk: int) -> str:
        return f"{self.prefix}/{pk}/{self.suffix}"


def dashboard(request: HttpRequest) -> HttpResponse:
    """Runs, upcoming fire times, failing and missed runs, the engine and backups of the viewer's owners."""
    now, zone = timezone.now(), timezone.get_current_timezone()
    owner_ids = visible_owner_ids(request.user)
    health = data.schedule_health(now, owner_ids, zone=zone, page=_number(request, "page", 1))
    coming = upcoming(now, owner_ids, page=_number(request, "upcoming", 1))
    backups, more_owners = data.backup_overview(owner_ids)
    schedule_url = ChangeLinks("admin:jobs_schedule_change")
    run_url = ChangeLinks("admin:jobs_jobrun_change")
    refresh = min(_number(request, "refresh", REFRESH_SECONDS, minimum=0), MAX_REFRESH_SECONDS)
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        **_live(request, now, owner_ids, zone),
        "refresh_seconds": refresh,
        "live_url": reverse("ops:dashboard_live"),
        "zone_form": ViewerZoneForm(
            initial={"timezone": request.session.get(SESSION_KEY, ""), "next": request.get_full_path()},
            default=owner_zone_name(request.user),
        ),
        "zone_name": str(zone),
        "per_day": outcome_histogram(
            activity.runs_per_day(now, owner_ids, zone), label="Runs per day, last 30 days", bar_width=17
        ),
        "health_page": health,
        "health_rows": [_health_row(row, schedule_url, run_url) for row in health.rows],
        "history_days": data.HISTORY_DAYS,
        "upcoming": coming,
        "frequent": [
            {
                "row": item,
                "url": schedule_url(item.schedule.pk),
                "next": time_html(item.next_at, pattern=WEEKDAY_AND_TIME),
                "overdue": item.next_at < now,
                "about": f"{item.about:,}",
            }
            for item in coming.frequent
        ],
        "upcoming_runs": [
            {
                "at": time_html(item.at, pattern=WEEKDAY_AND_TIME),
                "overdue": item.at < now,
                "schedule": item.schedule,
                "url": schedule_url(item.schedule.pk),
            }
            for item in coming.runs
        ],
        "timeline": timeline(
            [
                TimelineMark(item.at, f"{local_time(item.at, zone, WEEKDAY_AND_TIME)} · {item.schedule}")
                for item in coming.listed
            ],
            start=now,
            end=now + timedelta(hours=24),
            zone=zone,
            label=f"{len(coming.listed)} runs in the next 24 hours (frequent schedules not drawn)",
        ),
        "backups": [
            {
                "row": row,
                "last_good": time_html(row.last_good_at),
                "age": human_duration(row.age(now)) if row.last_good_at else "",
                "size": human_size(row.last_good_size) if row.last_good_size is not None else "",
            }
            for row in backups
        ],
        "more_owners": more_owners,
    }
    return TemplateResponse(request, "admin/ops/dashboard.html", context)


def dashboard_live(request: HttpRequest) -> JsonResponse:
    """The dashboard's live parts as JSON: ``counts`` (numbers) and ``sections`` (element id → HTML, drawn
    with the page's own templates), for the viewer's owners; never cached."""
    now, zone = timezone.now(), timezone.get_current_timezone()
    live = _live(request, now, visible_owner_ids(request.user), zone)
    sections = {**LIVE_SECTIONS, **(ENGINE_SECTION if request.user.is_superuser else {})}
    response = JsonResponse(
        {
            "updated": live["updated"],
            "counts": {**live["counts"].as_dict(), "failing_or_late": live["attention"]},
            "sections": {
                element: render_to_string(template, live, request=request)
                for element, template in sections.items()
            },
        }
    )
    response["Cache-Control"] = "no-store"
    return response


def _live(request: HttpRequest, now: datetime, owner_ids: set[int] | None, zone: tzinfo) -> dict:
    """What both the page and its poller draw: counts, the last hour's chart, failing and missed runs, and
    for superusers the engine (qclusters, dispatchers, broker)."""
    schedule_url = ChangeLinks("admin:jobs_schedule_change")
    last_hour = activity.runs_per_minute(now, owner_ids, zone)
    failing = [
        {
            "schedule": schedule,
            "url": schedule_url(schedule.pk),
            "since": time_html(schedule.failing_since or schedule.last_run_at),
            "problem": data.failing_problem(schedule),
        }
        for schedule in data.failing_schedules(owner_ids)
    ]
    missed = [
        {
            "item": item,
            "url": schedule_url(item.schedule_id),
            "expected": time_html(item.expected_at),
            "late_by": human_duration(item.late_by(now)),
        }
        for item in find_missed_runs(now, owner_ids=owner_ids, limit=50)
    ]
    superuser = request.user.is_superuser
    return {
        "updated": time_html(now),
        "attention": len(failing) + len(missed),
        "counts": activity.live_counts(owner_ids, last_hour),
        "per_minute": outcome_histogram(last_hour, label="Runs per minute, last hour (by slot)"),
        "failing": failing,
        "missed": missed,
        # Hosts, processes and the broker are the operator's business, not a tenant's (nor its error text).
        "workers": data.worker_state(now) if superuser else None,
        "engine_processes": [
            {
                "entry": entry,
                "last_beat": time_html(entry.process.last_beat_at),
                "since": time_html(entry.process.started_at),
                "ago": human_duration(now - entry.process.last_beat_at),
            }
            for entry in data.engine_processes(now)
        ]
        if superuser
        else None,
    }


def _number(request: HttpRequest, name: str, default: int, *, minimum: int = 1) -> int:
    try:
        return max(minimum, int(request.GET.get(name, default)))
    except ValueError:
        return default


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _health_row(row: data.ScheduleHealth, schedule_url: ChangeLinks, run_url: ChangeLinks) -> dict:
    schedule = row.schedule
    name = str(schedule)
    return {
        "schedule": schedule,
        "url": schedule_url(schedule.pk),
        "latest_run_url": run_url(schedule.latest_run_id) if schedule.latest_run_id else "",
        "latest_run_at": time_html(schedule.latest_run_slot),
        "rate_7": _percent(row.success_rate(7)),
        "rate_30": _percent(row.success_rate(30)),
        "duration_7": human_duration(row.average_duration(7)),
        "duration_30": human_duration(row.average_duration(30)),
        "failing_7": (row.success_rate(7) or 1) < 1,
        "outcomes_30": outcome_bars(row.days, label=f"Runs per day of {name}, last 30 days"),
        "durations_30": duration_line(row.days, label=f"Average duration per day of {name}"),
    }

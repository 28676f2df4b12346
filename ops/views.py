"""The operations dashboard, wrapped in ``admin_view`` (staff only).

It shows the rows of the viewer's owners only (``visible_owner_ids``); the worker section, which describes
the servers, only to superusers.
"""

from datetime import UTC, datetime, timedelta

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ops import dashboard as data
from ops.missed import find_missed_runs
from ops.svg import TimelineMark, duration_line, format_duration, outcome_bars, timeline
from tenants.scoping import visible_owner_ids

UPCOMING_LISTED = 50


class ChangeLinks:
    """Admin change-page URLs by primary key from one ``reverse()``: the dashboard links hundreds of rows,
    and a reverse per row costs more than the page's queries."""

    def __init__(self, url_name: str) -> None:
        self.prefix, self.suffix = reverse(url_name, args=["0"]).rsplit("/0/", 1)

    def __call__(self, pk: int) -> str:
        return f"{self.prefix}/{pk}/{self.suffix}"


def _utc(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    # strftime rather than the template's date filter: hundreds of cells, and all of them are UTC.
    return "" if moment is None else moment.astimezone(UTC).strftime(pattern)


def dashboard(request: HttpRequest) -> HttpResponse:
    """Runs, upcoming fire times, failing and missed runs, workers and backups of the viewer's owners."""
    now = timezone.now()
    owner_ids = visible_owner_ids(request.user)
    health = data.schedule_health(now, owner_ids, page=_page_number(request))
    upcoming, more_upcoming = data.upcoming_runs(now, owner_ids)
    backups, more_owners = data.backup_overview(owner_ids)
    schedule_url = ChangeLinks("admin:jobs_schedule_change")
    run_url = ChangeLinks("admin:jobs_jobrun_change")
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "now": now,
        "health_page": health,
        "health_rows": [_health_row(row, schedule_url, run_url) for row in health.rows],
        "history_days": data.HISTORY_DAYS,
        "timeline": timeline(
            [TimelineMark(item.at, f"{item.at:%H:%M} UTC · {item.schedule}") for item in upcoming],
            start=now,
            end=now + timedelta(hours=24),
            label=f"{len(upcoming)} runs in the next 24 hours",
        ),
        "upcoming": [
            {
                "at": _utc(item.at, "%a %H:%M") + (" (overdue)" if item.at < now else ""),
                "schedule": str(item.schedule),
                "owner": item.schedule.owner.name,
            }
            for item in upcoming[:UPCOMING_LISTED]
        ],
        "more_upcoming": more_upcoming or len(upcoming) > UPCOMING_LISTED,
        "failing": [
            {
                "schedule": schedule,
                "url": schedule_url(schedule.pk),
                "since": _utc(schedule.last_run_at),
                "problem": data.failing_problem(schedule),
            }
            for schedule in data.failing_schedules(owner_ids)
        ],
        "missed": [
            {
                "item": item,
                "url": schedule_url(item.schedule_id),
                "expected": _utc(item.expected_at),
                "late_by": format_duration(item.late_by(now)),
            }
            for item in find_missed_runs(now, owner_ids=owner_ids, limit=50)
        ],
        # Hosts, clusters and the broker are the operator's business, not a tenant's (nor its error text).
        "workers": data.worker_state(now) if request.user.is_superuser else None,
        "backups": [
            {
                "row": row,
                "last_good": _utc(row.last_good_at),
                "age": format_duration(row.age(now)) if row.last_good_at else "",
            }
            for row in backups
        ],
        "more_owners": more_owners,
    }
    return TemplateResponse(request, "admin/ops/dashboard.html", context)


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _health_row(row: data.ScheduleHealth, schedule_url: ChangeLinks, run_url: ChangeLinks) -> dict:
    schedule = row.schedule
    name = str(schedule)
    return {
        "schedule": schedule,
        "url": schedule_url(schedule.pk),
        "latest_run_url": run_url(schedule.latest_run_id) if schedule.latest_run_id else "",
        "latest_run_at": _utc(schedule.latest_run_slot),
        "rate_7": _percent(row.success_rate(7)),
        "rate_30": _percent(row.success_rate(30)),
        "duration_7": format_duration(row.average_duration(7)),
        "duration_30": format_duration(row.average_duration(30)),
        "failing_7": (row.success_rate(7) or 1) < 1,
        "outcomes_30": outcome_bars(row.days, label=f"Runs per day of {name}, last 30 days"),
        "outcomes_7": outcome_bars(row.days[-7:], label=f"Runs per day of {name}, last 7 days", bar_width=8),
        "durations_30": duration_line(row.days, label=f"Average duration per day of {name}"),
    }

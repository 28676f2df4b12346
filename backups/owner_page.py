"""The Backups section of an owner's page in the admin: the owner's backup schedule, the next backup and the
last good one in the owner's time zone (UTC on hover), and "Back up now" for those who may run the owner's
backups. Registered with ``tenants.owner_page`` from ``BackupsConfig.ready``. Three indexed reads."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from backups.models import Backup
from backups.schedules import managed_schedule
from jobs.triggers import describe_trigger
from tenants.display import human_duration, human_size, status_badge, time_html
from tenants.models import Owner
from tenants.scoping import owner_ids_for

TITLE = "Backups"


def owners_to_back_up(user: AbstractBaseUser) -> QuerySet:
    """The active owners whose backup the user may start (the run right on backups, per owner)."""
    if not user.has_perm("backups.run_backup"):
        return Owner.objects.none()
    owners = Owner.objects.filter(is_active=True).order_by("name")
    owner_ids = owner_ids_for(user, "run")
    return owners if owner_ids is None else owners.filter(pk__in=owner_ids)


def back_up_now_url(owner_id: int | None = None) -> str:
    url = reverse("admin:backups_backup_back_up_now")
    return url if owner_id is None else f"{url}?owner={owner_id}"


def backups_section(request: HttpRequest, owner: Owner) -> SafeString:
    zone, now = owner.zone, timezone.now()
    schedule = managed_schedule(owner.pk)
    newest = Backup.objects.filter(owner=owner).order_by("-started_at")
    good = newest.filter(status=Backup.Status.VERIFIED).first()
    latest = newest.first()
    rows = [
        ("Schedule", _schedule_cell(schedule)),
        ("Next backup", _next_cell(schedule, zone)),
        ("Last good backup", _good_cell(good, zone, now)),
    ]
    if latest is not None and latest != good:
        rows.append(
            (
                "Latest backup",
                format_html(
                    '{} <a href="{}">#{}</a>, {}',
                    status_badge(latest.status, latest.get_status_display()),
                    reverse("admin:backups_backup_change", args=[latest.pk]),
                    latest.pk,
                    time_html(latest.started_at, zone),
                ),
            )
        )
    table = format_html(
        '<table class="key-values owner-backups">{}</table>',
        format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
    )
    if not owners_to_back_up(request.user).filter(pk=owner.pk).exists():
        return table
    return format_html(
        '{}<p><a class="button" id="back-up-now" href="{}">Back up now</a></p>',
        table,
        back_up_now_url(owner.pk),
    )


def _schedule_cell(schedule) -> SafeString:
    if schedule is None:
        return format_html("{}", "none yet (made at the next migrate or dispatcher start)")
    state = ""
    if not schedule.enabled:
        state = status_badge("disabled")
    elif schedule.is_paused:
        state = status_badge("paused")
    return format_html(
        '<a href="{}">{}</a> {} <span class="quiet-note">{}</span>',
        reverse("admin:jobs_schedule_change", args=[schedule.pk]),
        schedule.label or schedule,
        state,
        describe_trigger(schedule),
    )


def _next_cell(schedule, zone) -> SafeString:
    if schedule is None or schedule.next_run_at is None:
        return format_html("{}", "none (the schedule is switched off or paused)")
    return time_html(schedule.next_run_at, zone)


def _good_cell(good: Backup | None, zone, now) -> SafeString:
    if good is None:
        return format_html("{}", "none: no verified backup yet")
    return format_html(
        '<a href="{}">#{}</a>, {} ({} ago), {}, took {}',
        reverse("admin:backups_backup_change", args=[good.pk]),
        good.pk,
        time_html(good.started_at, zone),
        human_duration(now - good.started_at),
        human_size(good.size),
        human_duration(good.duration),
    )

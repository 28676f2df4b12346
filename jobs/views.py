"""The cron preview behind the schedule form's cron input; the schedule admin serves it (staff only)."""

from datetime import datetime, tzinfo

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from jobs import cron

PREVIEW_FIRE_TIMES = 5


def cron_preview(request: HttpRequest) -> JsonResponse:
    """``?expression=…&timezone=…`` → the expression in words and its next fire times, or the error.

    Answers 200 with ``{"valid": true, "description", "next": [{"utc", "local"}]}``, or 400 with
    ``{"valid": false, "error"}`` naming what is wrong (the field and why, or the unknown time zone).
    """
    expression = request.GET.get("expression", "").strip()
    zone_name = request.GET.get("timezone", "").strip() or "UTC"
    if not expression:
        return JsonResponse({"valid": False, "error": "Enter a cron expression."}, status=400)
    try:
        zone = cron.time_zone(zone_name)
    except ValueError as unknown:
        return JsonResponse({"valid": False, "error": str(unknown)}, status=400)
    try:
        description = cron.describe(expression)
        fire_times = cron.next_fire_times(expression, timezone.now(), PREVIEW_FIRE_TIMES, zone)
    except cron.InvalidCronExpression as invalid:
        return JsonResponse({"valid": False, "error": str(invalid)}, status=400)
    return JsonResponse(
        {
            "valid": True,
            "description": description,
            "timezone": zone_name,
            "next": [_fire_time(moment, zone) for moment in fire_times],
        }
    )


def _fire_time(moment: datetime, zone: tzinfo) -> dict:
    local = moment.astimezone(zone)
    return {"utc": moment.isoformat(), "local": f"{local:%a %Y-%m-%d %H:%M} {local.tzname()}"}

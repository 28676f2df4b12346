"""How every page writes times, durations, sizes and statuses for people: one place, so all pages agree.

- ``human_duration``: "277 ms", "12.3 s", "4 min 5 s", "2 h 3 min", "3 d 4 h".
- ``human_size``: "512 bytes", "1.5 MB" (Django's ``filesizeformat``, which counts in 1024s).
- ``local_time`` and ``time_html``: a moment to the second in a zone (default: the viewer's, which
  ``tenants.viewer_zone`` activates per request), with the zone's abbreviation; the HTML form carries the
  UTC time in its ``title`` (shown on hover) and a machine-readable ``datetime``.
- ``status_badge``: a coloured badge for a run's, schedule's or backup's status (colours in
  ``tenants/static/tenants/display.css``, which every admin page loads).

It sits with the owners because the zone a page speaks is the viewer's owner's.
"""

from datetime import UTC, datetime, timedelta, tzinfo

from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

NOTHING = "—"

# (unit in seconds, its symbol), largest first: a duration shows its two largest units.
_UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def human_duration(value: timedelta | float | None) -> str:
    """A duration for people: "277 ms", "12.3 s", "4 min 5 s", "2 h 3 min", "3 d 4 h" ("—" for None).

    Below a second in milliseconds, below a minute in seconds with one decimal; above, the two largest
    whole units (the smaller left out when it is zero). Negative values get a minus sign.
    """
    if value is None:
        return NOTHING
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        return f"-{human_duration(-seconds)}"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f}".removesuffix(".0") + " s"
    whole = int(seconds)
    for index, (unit, symbol) in enumerate(_UNITS):
        if whole >= unit:
            text = f"{whole // unit} {symbol}"
            smaller, smaller_symbol = _UNITS[index + 1]
            rest = whole % unit // smaller
            return f"{text} {rest} {smaller_symbol}" if rest else text
    raise AssertionError("unreachable: a duration of a minute or more has a unit")  # pragma: no cover


def human_size(size: int | None) -> str:
    """A number of bytes for people: "512 bytes", "1.5 MB" ("—" for None), never broken between number
    and unit (a non-breaking space, as Django's ``filesizeformat``)."""
    if size is None:
        return NOTHING
    return filesizeformat(size)


FULL = "%Y-%m-%d %H:%M:%S %Z"
# For lists within the next day or so: "Mon 11:00:03 CEST".
WEEKDAY_AND_TIME = "%a %H:%M:%S %Z"


def local_time(moment: datetime | None, zone: tzinfo | None = None, pattern: str = FULL) -> str:
    """``2026-05-01 11:00:03 CEST``: the moment to the second in ``zone`` (default: the viewer's)."""
    if moment is None:
        return NOTHING
    local = timezone.localtime(moment, zone or timezone.get_current_timezone())
    return local.strftime(pattern)


def utc_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_html(moment: datetime | None, zone: tzinfo | None = None, pattern: str = FULL) -> SafeString:
    """The moment as ``local_time`` in a ``<time>`` element whose title (hover) says it in UTC."""
    if moment is None:
        return format_html("{}", NOTHING)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.astimezone(UTC).isoformat(),
        utc_time(moment),
        local_time(moment, zone, pattern),
    )


def breakable(text: str) -> SafeString:
    """``text`` escaped, with a line-break opportunity after each ".", "_", "-" and "/": a long job name
    ("billing.trials_and_payments") wraps in a narrow column instead of widening the table."""
    escaped = str(format_html("{}", text))
    for mark in "._-/":
        escaped = escaped.replace(mark, f"{mark}<wbr>")
    return mark_safe(escaped)  # noqa: S308 - escaped above; only <wbr> added


def status_badge(status: str, label: str | None = None) -> SafeString:
    """A coloured badge: ``status`` picks the colour (``status-<status>`` in display.css), ``label`` is the
    text shown (default: the status with spaces)."""
    if not status:
        return format_html("{}", NOTHING)
    return format_html(
        '<span class="status-badge status-{}">{}</span>', status, label or status.replace("_", " ")
    )

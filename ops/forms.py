"""Form fields and widgets that make the admin's schedule and owner forms humane to fill in.

- ``TimezoneField``: a select of every IANA zone, grouped by region (Europe, America, …), so a time zone is
  picked, not typed.
- ``CronExpressionInput``: a text input that shows, while typing, the expression in words and its next fire
  times in the form's time zone (or the reason it is invalid), from ``ops:cron_preview``.
"""

import zoneinfo
from functools import lru_cache

from django import forms
from django.urls import reverse_lazy


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, list[tuple[str, str]]] | tuple[str, str]]:
    """Every available IANA zone: UTC first, then one option group per region, alphabetical."""
    regions: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/")):
            continue  # legacy aliases (EST5EDT, Etc/GMT+3) invite mistakes; UTC is offered on its own
        # The full name as the label: a closed select shows only the label, and "London" alone is vague.
        regions.setdefault(name.split("/", 1)[0], []).append((name, name))
    return [("UTC", "UTC"), *regions.items()]


def _all_zone_names() -> set[str]:
    return zoneinfo.available_timezones() | {"UTC"}


class TimezoneField(forms.ChoiceField):
    """A required choice of IANA time zone; accepts any available zone, offers the everyday ones."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("initial", "UTC")
        kwargs.setdefault("help_text", "The IANA time zone in which times of day are meant.")
        super().__init__(choices=timezone_choices, **kwargs)

    def valid_value(self, value: str) -> bool:
        # A stored legacy alias (e.g. "Etc/GMT+3") stays valid even though the list does not offer it.
        return value in _all_zone_names()


class CronExpressionInput(forms.TextInput):
    """A cron text input with a live description and the next fire times below it.

    ``timezone_field`` names the form field whose value is the schedule's time zone (read on each change).
    """

    template_name = "ops/widgets/cron_expression.html"

    class Media:
        js = ["ops/cron_preview.js"]

    def __init__(self, attrs: dict | None = None, *, timezone_field: str = "timezone") -> None:
        super().__init__(
            {
                "class": "vTextField",
                "autocomplete": "off",
                "spellcheck": "false",
                "data-cron-preview-url": reverse_lazy("ops:cron_preview"),
                "data-cron-timezone-field": timezone_field,
                **(attrs or {}),
            }
        )

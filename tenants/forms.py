"""The inputs owners' pages are made of: the time-zone picker (every IANA zone, grouped by region, so a
zone is picked, not typed; used on the owner and the schedule form) and each owner-setting key's typed
input (``setting_value_field``, chosen by the key's type in the registry).
"""

from functools import lru_cache

from django import forms

from tenants.setting_keys import SettingDefinition
from tenants.timezones import is_time_zone, time_zone_names


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, list[tuple[str, str]]] | tuple[str, str]]:
    """Every available IANA zone: UTC first, then one option group per region, alphabetical."""
    regions: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(time_zone_names()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/")):
            continue  # legacy aliases (EST5EDT, Etc/GMT+3) invite mistakes; UTC is offered on its own
        # The full name as the label: a closed select shows only the label, and "London" alone is vague.
        regions.setdefault(name.split("/", 1)[0], []).append((name, name))
    return [("UTC", "UTC"), *regions.items()]


class TimezoneField(forms.ChoiceField):
    """A required choice of IANA time zone; accepts any available zone, offers the everyday ones."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("initial", "UTC")
        kwargs.setdefault("help_text", "The IANA time zone in which times of day are meant.")
        super().__init__(choices=timezone_choices, **kwargs)

    def valid_value(self, value: str) -> bool:
        # A stored legacy alias (e.g. "Etc/GMT+3") stays valid even though the list does not offer it.
        return is_time_zone(value)


class ViewerZoneForm(forms.Form):
    """The zone a staff member's pages speak (``tenants.viewer_zone.choose_zone``); empty: their default."""

    timezone = forms.ChoiceField(label="Times in", required=False)
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, default: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [("", f"default ({default})"), *timezone_choices()]


def setting_value_field(item: SettingDefinition, **kwargs) -> forms.Field:
    """The input of one owner-setting key, by its type in the registry: a checkbox (yes/no), a number
    within the key's bounds, the browser's time picker (HH:MM), or a select of the key's choices."""
    kwargs.setdefault("required", False)
    if item.kind == "bool":
        return forms.BooleanField(**kwargs)
    if item.kind == "int":
        return forms.IntegerField(min_value=item.min_value, max_value=item.max_value, **kwargs)
    if item.kind == "time":
        return forms.TimeField(
            widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            input_formats=["%H:%M", "%H:%M:%S"],
            **kwargs,
        )
    if item.kind == "choice":
        return forms.ChoiceField(choices=[(choice, choice.capitalize()) for choice in item.choices], **kwargs)
    raise AssertionError(f"unknown setting kind {item.kind!r}")

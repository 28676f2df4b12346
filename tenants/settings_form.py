"""The owner form with the owner's settings on it: per registered key, an "own value" checkbox and the key's
typed input (``tenants.forms.setting_value_field``), showing the value in force and what it would inherit.

Ticked, the input's value is stored as the owner's own (validated by the key's own rules); unticked, the
owner inherits (its own value, if any, is removed). A value changed without ticking is refused, never
dropped silently; the page's script ticks the box when a value is changed.
"""

from typing import Any

from django import forms

from tenants import owner_settings
from tenants.forms import TimezoneField, setting_value_field
from tenants.models import Owner
from tenants.setting_keys import SettingDefinition, SettingValueError, definitions

OWN = "own__"
VALUE = "setting__"


class OwnerForm(forms.ModelForm):
    timezone = TimezoneField()

    class Meta:
        model = Owner
        fields = ["name", "slug", "timezone", "contact_email", "is_active"]


class OwnerSettingsForm(OwnerForm):
    """``OwnerForm`` plus the settings rows; make the class with ``owner_settings_form()``."""

    setting_definitions: tuple[SettingDefinition, ...] = ()

    class Media:
        js = ["tenants/owner_settings.js"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.effective = owner_settings.resolve_all(self.instance.pk)
        self.inherited = owner_settings.inherited_all(self.instance.pk)
        for item in self.setting_definitions:
            current, inherited = self.effective[item.key], self.inherited[item.key]
            self.initial[OWN + item.key] = current.source == owner_settings.Source.OWNER
            self.initial[VALUE + item.key] = current.value
            value = self.fields[VALUE + item.key]
            value.help_text = (
                f"{item.help_text} Unticked, it inherits {inherited.display} ({inherited.source.label})."
            )
            value.widget.attrs.update(
                {"data-setting-own": f"id_{OWN}{item.key}", "data-inherited": inherited.display}
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for item in self.setting_definitions:
            own, value = cleaned.get(OWN + item.key), cleaned.get(VALUE + item.key)
            if VALUE + item.key in self.errors:
                continue
            if not own:
                if value is not None and value != self.inherited[item.key].value:
                    self.add_error(
                        VALUE + item.key,
                        f"Tick “own value” to set this for {self.instance}; unticked, it inherits "
                        f"{self.inherited[item.key].display}.",
                    )
                continue
            if value is None:
                self.add_error(VALUE + item.key, "Enter a value, or untick “own value” to inherit it.")
                continue
            try:
                cleaned[VALUE + item.key] = item.parse(item.serialize(value))
            except SettingValueError as invalid:
                self.add_error(VALUE + item.key, str(invalid))
        return cleaned

    def save_settings(self) -> list[str]:
        """Store the ticked values and remove the unticked own ones; returns the keys that changed."""
        changed = []
        for item in self.setting_definitions:
            own, value = self.cleaned_data[OWN + item.key], self.cleaned_data[VALUE + item.key]
            was_own = self.effective[item.key].source == owner_settings.Source.OWNER
            if own and (not was_own or value != self.effective[item.key].value):
                owner_settings.set_value(self.instance.pk, item.key, value)
                changed.append(item.key)
            elif not own and was_own:
                owner_settings.unset(self.instance.pk, item.key)
                changed.append(item.key)
        return changed


def owner_settings_form() -> type[OwnerSettingsForm]:
    """An ``OwnerSettingsForm`` class with a row for every key registered now."""
    items = tuple(definitions())
    fields: dict[str, Any] = {"setting_definitions": items}
    for item in items:
        fields[OWN + item.key] = forms.BooleanField(required=False, label="own value")
        fields[VALUE + item.key] = setting_value_field(item, label=item.key)
    return type(OwnerSettingsForm)("OwnerSettingsForm", (OwnerSettingsForm,), fields)


def settings_fieldsets() -> list[tuple[str, dict]]:
    """The settings rows of the owner page, one fieldset per group of keys (backup, alerts, billing…)."""
    groups: dict[str, list] = {}
    for item in definitions():
        groups.setdefault(item.group or "other", []).append((VALUE + item.key, OWN + item.key))
    return [
        (
            f"{group.capitalize()} settings",
            {
                "fields": rows,
                # templates/admin/tenants/owner/change_form.html draws these as one table.
                "classes": ["owner-settings"],
                "description": "Ticked: this owner's own value. Unticked: inherited (said under each key).",
            },
        )
        for group, rows in groups.items()
    ]

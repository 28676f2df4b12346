import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from tenants.setting_keys import SettingValueError, definition

# Migrations name the validator as tenants.models.validate_timezone; it lives with the zone list.
from tenants.timezones import validate_timezone

GLOBAL_OWNER_ID = 0


class Owner(models.Model):
    """A tenant. Owner 0 is the global owner: its settings are every owner's defaults."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADMIN)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "owner"], name="membership_unique_user_owner")]

    def __str__(self) -> str:
        return f"{self.user} → {self.owner} ({self.role})"


class OwnerSetting(models.Model):
    """One owner's value for one registered setting key, stored as its canonical text form."""

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="settings")
    key = models.CharField(max_length=100)
    value = models.CharField(max_length=500)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="ownersetting_unique_owner_key")]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    def clean(self) -> None:
        try:
            self.value = definition(self.key).serialize(definition(self.key).parse(self.value))
        except KeyError:
            raise ValidationError({"key": f"Unknown setting {self.key!r}."}) from None
        except SettingValueError as error:
            raise ValidationError({"value": str(error)}) from None

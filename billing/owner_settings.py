"""Per-owner settings of the billing app, added to the tenants registry at start-up."""

from tenants.setting_keys import SettingDefinition, register

OVERDUE_REMINDER_DAYS = register(
    SettingDefinition(
        "BILLING_OVERDUE_REMINDER_DAYS",
        "int",
        7,
        "Days after an invoice's due date to send one payment reminder (the overdue alert comes first).",
        min_value=1,
        max_value=365,
        group="billing",
    )
)

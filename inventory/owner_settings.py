"""Per-owner settings of the inventory app, added to the tenants registry at start-up."""

from tenants.setting_keys import SettingDefinition, register

LOW_STOCK_EMAIL_ENABLED = register(
    SettingDefinition(
        "ALERTS_LOW_STOCK_EMAIL_ENABLED",
        "bool",
        True,
        "E-mail a digest of new low-stock alerts after each check (alerts are recorded either way).",
        group="alerts",
    )
)

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo seeding (`manage.py seed_demo`): the top floor, which may import every app."""

    name = "demo"
    verbose_name = "Demo data"

"""The banner every jobs admin page shows while the global switch JOBS_ENABLED is off."""

from django import template
from django.conf import settings
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def jobs_disabled_banner() -> str:
    if settings.JOBS_ENABLED:
        return ""
    return format_html(
        '<ul class="messagelist"><li class="warning">{}</li></ul>',
        "Scheduled jobs are switched off (JOBS_ENABLED is false): workers run, but nothing is dispatched.",
    )

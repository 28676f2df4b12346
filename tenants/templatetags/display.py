"""``tenants.display`` in templates: ``{% load display %}``, then ``{{ name|breakable }}``,
``{{ moment|time_html }}``, ``{{ bytes|human_size }}``, ``{{ delta|human_duration }}``."""

from django import template

from tenants import display

register = template.Library()

register.filter("breakable", display.breakable)
register.filter("time_html", display.time_html)
register.filter("human_size", display.human_size)
register.filter("human_duration", display.human_duration)

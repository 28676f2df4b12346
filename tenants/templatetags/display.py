"""``tenants.display`` in templates: ``{% load display %}`` then ``{{ name|breakable }}``."""

from django import template

from tenants import display

register = template.Library()

register.filter("breakable", display.breakable)

"""django-q2's own admins, locked down: superusers only, and its Schedule admin read-only for everyone.

django-q2's task, failure and queue rows belong to no owner (they hold every tenant's job arguments), so
no member may see them. Its Schedule model is not how this product schedules anything: django-q2's
scheduler is off (``Q_CLUSTER["scheduler"] = False``), so a row added there would never run; the page says
so and points at our schedules. Imported by jobs/admin.py, which runs before django-q2's admin module
would be autodiscovered; importing it here first lets us replace what it registers.
"""

from django.contrib import admin
from django.http import HttpRequest
from django_q import admin as django_q_admin
from django_q.models import Failure, OrmQ, Schedule, Success

from tenants.scoping import SuperuserOnlyAdminMixin

SCHEDULER_OFF = (
    "Not used: django-q2's own scheduler is off here (Q_CLUSTER scheduler = False), so these rows never "
    "run. Schedules live under Scheduled jobs → Schedules."
)


class TaskAdmin(SuperuserOnlyAdminMixin, django_q_admin.TaskAdmin):
    pass


class FailureAdmin(SuperuserOnlyAdminMixin, django_q_admin.FailAdmin):
    pass


class QueueAdmin(SuperuserOnlyAdminMixin, django_q_admin.QueueAdmin):
    pass


class UnusedScheduleAdmin(SuperuserOnlyAdminMixin, django_q_admin.ScheduleAdmin):
    """Shown so a superuser can see what is there, and that it does nothing; never edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": SCHEDULER_OFF})

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        context = {**(extra_context or {}), "subtitle": SCHEDULER_OFF}
        return super().changeform_view(request, object_id, form_url, context)


for model, model_admin in (
    (Success, TaskAdmin),
    (Failure, FailureAdmin),
    (OrmQ, QueueAdmin),
    (Schedule, UnusedScheduleAdmin),
):
    # OrmQ is registered only with the ORM broker; whatever django-q2 registered is replaced.
    if admin.site.is_registered(model):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)

"""A test admin site using the admin kit on JobRun, independent of how jobs/admin.py composes them."""

from django.contrib import admin
from django.urls import path

from jobs.admin_kit import (
    DateDrillDownFilter,
    IndexedRunSearchMixin,
    JobNameFilter,
    ScaledChangeListMixin,
    VisibleOwnerFilter,
)
from jobs.models import JobRun
from tenants.scoping import OwnerScopedAdminMixin

site = admin.AdminSite(name="scale_test")


@admin.register(JobRun, site=site)
class RunAdmin(ScaledChangeListMixin, IndexedRunSearchMixin, OwnerScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "job_name", "owner", "status", "slot"]
    list_select_related = ["owner"]
    list_filter = ["status", JobNameFilter, VisibleOwnerFilter, ("slot", DateDrillDownFilter)]
    ordering = ["-slot"]
    list_per_page = 2


urlpatterns = [path("scale/", site.urls)]

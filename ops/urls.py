from django.contrib import admin
from django.urls import path

from ops import views

app_name = "ops"

urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
]

from django.urls import path

from backups import views

app_name = "backups"

urlpatterns = [
    path("download/<str:token>/", views.download, name="download"),
]

from django.db import migrations


def create_global_owner(apps, schema_editor):
    Owner = apps.get_model("tenants", "Owner")
    Owner.objects.get_or_create(pk=0, defaults={"name": "Global", "slug": "global", "timezone": "UTC"})


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_global_owner, migrations.RunPython.noop)]

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jobs", "0023_active_age_by_state")]

    operations = []

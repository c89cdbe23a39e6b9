# Placeholder: the ETA history model's table (filled in by the issue #13 ETA work).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jobs", "0018_rollups")]

    operations = []

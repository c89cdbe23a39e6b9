# Placeholder: the stage analytics tables (filled in by the issue #13 stage work).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jobs", "0019_eta_model")]

    operations = []

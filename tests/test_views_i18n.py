"""The Chinese catalogue is complete and compiled, and pages switch language."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.fixtures_ui import make_job

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
needs_msgfmt = pytest.mark.skipif(not shutil.which("msgfmt"), reason="gettext is not installed")


@needs_msgfmt
def test_it_ships_a_complete_chinese_catalogue():
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO)], capture_output=True, text=True, check=True
    )
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


@needs_msgfmt
def test_it_ships_the_compiled_catalogue_up_to_date(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(PO)], check=True)
    assert compiled.read_bytes() == PO.with_suffix(".mo").read_bytes()


@pytest.mark.django_db
def test_it_switches_the_interface_to_chinese(viewer_client, account):
    make_job(account, state="TRAINING")
    response = viewer_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/jobs/"})
    assert response.status_code == 302
    html = viewer_client.get("/jobs/").content.decode()
    assert 'lang="zh-hans"' in html and "任务" in html and "数字人形象训练" in html and "运行中" in html

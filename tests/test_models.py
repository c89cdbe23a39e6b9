from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AssessmentMetric, CloudAccount, SyncRun

pytestmark = pytest.mark.django_db


def test_it_keeps_secrets_encrypted_and_write_only(huawei_account):
    stored = CloudAccount.objects.get(pk=huawei_account.pk)

    assert "sk-super-secret-value" not in stored.secret_key_encrypted
    assert stored.get_secret_key() == "sk-super-secret-value"
    assert stored.has_secret_key and not stored.has_token
    stored.set_secret_key("")
    assert not stored.has_secret_key and stored.get_secret_key() == ""


def test_it_syncs_the_chosen_kinds_or_all_the_provider_offers(huawei_account, tencent_account):
    huawei_account.kinds = ["voice_training", "translation"]
    tencent_account.kinds = []

    assert huawei_account.sync_kinds() == ["voice_training"]
    assert tencent_account.sync_kinds() == ["translation"]
    huawei_account.kinds = ["translation"]
    assert huawei_account.sync_kinds() == ["avatar_training", "voice_training", "voice_assessment"]


def test_it_reports_a_run_duration(huawei_account):
    start = timezone.now()
    run = SyncRun(account=huawei_account, kind="translation", started_at=start)

    assert run.duration is None
    run.finished_at = start + timedelta(seconds=3)
    assert run.duration == timedelta(seconds=3)


def test_it_flags_a_metric_outside_its_range():
    assert AssessmentMetric(status=1).out_of_range
    assert AssessmentMetric(status=-1).out_of_range
    assert not AssessmentMetric(status=0).out_of_range

"""jobs.sync.fingerprints: a page's fingerprints in one pass, and the job each belongs to."""

import dataclasses

import pytest

from jobs.models import Job, SyncRun
from jobs.providers import huawei
from jobs.sync import fingerprints
from jobs.sync.kind import KindSync
from tests.fixtures_sync import T0, StubProvider, avatar_item, make_record

AV = "avatar_training"
VT = "voice_training"


def test_a_pages_fingerprints_equal_those_of_its_jobs_one_by_one():
    odd = huawei.listed_avatar(avatar_item(2))
    odd.payload.update({"seen": T0, 7: "non-string key"})  # not from a JSON parser: the slow path
    entries = [huawei.listed_avatar(avatar_item(1)), odd, make_record(AV, 3), huawei.listed_avatar(avatar_item(1))]

    prints = fingerprints.fingerprints(entries)

    assert prints == [fingerprints.fingerprint(entry) for entry in entries]
    assert prints[0] == prints[3] and len({fp for _, fp in prints}) == 3
    assert prints[1][0] == fingerprints.json_bytes(odd.payload)


@pytest.mark.django_db
@pytest.mark.db_sensitive
def test_fingerprints_made_ahead_belong_to_the_job_kept_from_the_page(huawei_account):
    run = SyncRun.objects.create(account=huawei_account, kind=AV)
    ks = KindSync(huawei_account, AV, StubProvider([]), run)
    kept = make_record(AV, 1)
    other = dataclasses.replace(make_record(VT, 1), remote_id=kept.remote_id)  # same id, wrong kind: skipped
    entries = [kept, other]

    ks.store_records(entries, fingerprints.fingerprints(entries))

    assert Job.objects.get().fingerprint == fingerprints.fingerprint(kept)[1]

"""cos-python-sdk-v5, unchanged, against fakecloud's Tencent CI endpoints."""

import xml.etree.ElementTree as ET

import pytest
from qcloud_cos.cos_exception import CosServiceError

from tests.fixtures_fakecloud import cos_client


def _all_jobs(client, server, **kwargs):
    jobs, token, pages = [], "", 0
    while True:
        page = client.ci_list_media_jobs(
            Bucket=server.tencent["bucket"], Tag="Translation", Path="/ai_jobs", Size=100, NextToken=token, **kwargs
        )
        jobs += page.get("JobsDetail", [])
        pages += 1
        token = page.get("NextToken")
        if not token:
            return jobs, pages


@pytest.mark.parametrize("via", ["proxy", "ip"])
def test_it_follows_next_token_to_the_end(fakecloud_session, via):
    jobs, pages = _all_jobs(cos_client(fakecloud_session, via=via), fakecloud_session)
    ids = [j["JobId"] for j in jobs]
    expected = {j["job_id"] for j in fakecloud_session.jobs("translation")}
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert fakecloud_session.counters()["ci.list"] == pages == -(-len(expected) // 100)


def test_it_lists_newest_first_unless_asked_otherwise(fakecloud):
    client = cos_client(fakecloud)
    desc, _ = _all_jobs(client, fakecloud)
    asc, _ = _all_jobs(client, fakecloud, OrderByTime="Asc")
    created = [j["CreationTime"] for j in desc]
    assert created == sorted(created, reverse=True)
    assert [j["JobId"] for j in asc] == [j["JobId"] for j in desc][::-1]


def test_it_filters_by_state_and_queue(fakecloud):
    client = cos_client(fakecloud)
    jobs, _ = _all_jobs(client, fakecloud, States="Failed,Cancel", QueueId=fakecloud.tencent["queue_id"])
    expected = {j["job_id"] for j in fakecloud.jobs("translation") if j["state"] in ("Failed", "Cancel")}
    assert {j["JobId"] for j in jobs} == expected and expected
    assert all(j["Code"] != "Success" for j in jobs if j["State"] == "Failed")


def test_it_lists_the_same_jobs_on_the_jobs_path(fakecloud):
    client = cos_client(fakecloud)
    page = client.ci_list_media_jobs(Bucket=fakecloud.tencent["bucket"], Tag="Translation", Size=100)
    assert len(page["JobsDetail"]) == len(fakecloud.jobs("translation"))


def test_it_gets_jobs_by_id_and_names_the_missing_ones(fakecloud):
    client = cos_client(fakecloud)
    known = fakecloud.jobs("translation")[0]["job_id"]
    answer = client.ci_get_media_jobs(Bucket=fakecloud.tencent["bucket"], JobIDs=f"{known},anotexistingjob")
    assert [j["JobId"] for j in answer["JobsDetail"]] == [known]
    assert answer["NonExistJobIds"] == "anotexistingjob"


def test_it_submits_a_translation_job(fakecloud):
    client = cos_client(fakecloud)
    tc = fakecloud.tencent
    answer = client.ci_create_media_jobs(
        Bucket=tc["bucket"],
        Jobs={
            "Tag": "Translation",
            "Input": {"Object": "docs/手册.docx", "Lang": "zh", "Type": "docx"},
            "Operation": {
                "Translation": {"Lang": "en", "Type": "docx"},
                "Output": {"Region": tc["region"], "Bucket": tc["bucket"], "Object": "out/manual.en.docx"},
            },
        },
        ContentType="application/xml",
    )
    job = answer["JobsDetail"][0]
    assert job["State"] == "Submitted" and job["StartTime"] == "-" and job["EndTime"] == "-"
    assert job["Input"]["Object"] == "docs/手册.docx"
    assert fakecloud.counters()["ci.submit"] == 1
    fakecloud.advance(600)
    later = client.ci_get_media_jobs(Bucket=tc["bucket"], JobIDs=job["JobId"])["JobsDetail"][0]
    assert later["State"] == "Success" and later["EndTime"].endswith("+0800")


def test_it_answers_a_wrong_secret_with_the_ci_401_xml(fakecloud):
    client = cos_client(fakecloud, secret_key="0" * 32)
    with pytest.raises(CosServiceError) as caught:
        client.ci_list_media_jobs(Bucket=fakecloud.tencent["bucket"], Tag="Translation", Path="/ai_jobs")
    error = ET.fromstring(caught.value.get_origin_msg())
    assert caught.value.get_status_code() == 401
    assert error.tag == "Error"
    assert error.findtext("Code") == "AccessDenied"
    assert error.findtext("RequestId") and error.findtext("TraceId")
    assert error.find("Resource") is None  # CI error bodies have no Resource
    assert fakecloud.counters()["ci.auth_failures"] == 1


def test_it_accepts_a_temporary_credential_token():
    from fakecloud.testing import FakeCloudServer

    with FakeCloudServer(jobs=5, tencent_token="TEMPTOKEN123") as server:
        with_token = cos_client(server, token="TEMPTOKEN123")
        without = cos_client(server)
        page = with_token.ci_list_media_jobs(Bucket=server.tencent["bucket"], Tag="Translation", Path="/ai_jobs")
        with pytest.raises(CosServiceError) as caught:
            without.ci_list_media_jobs(Bucket=server.tencent["bucket"], Tag="Translation", Path="/ai_jobs")
    assert len(page["JobsDetail"]) == 5
    assert caught.value.get_status_code() == 401

"""The documented list parameters, paging rules and vendor error bodies of each API."""

import xml.etree.ElementTree as ET

import pytest

from tests.fixtures_fakecloud import avatar_path, cos_request, huawei_request, voice_path


def _avatar(server, *params):
    response = huawei_request(server, "GET", avatar_path(), [("limit", 100), *params])
    assert response.status_code == 200, response.text
    return response.json()


def _voice(server, *params):
    response = huawei_request(server, "GET", voice_path(), [("limit", 100), *params])
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "params",
    [
        [("limit", 0)],
        [("limit", 101)],
        [("limit", "ten")],
        [("offset", -1)],
        [("sort_dir", "up")],
        [("sort_key", "name")],
        [("is_flexus", "yes")],
        [("create_since", "last week")],
    ],
)
def test_it_answers_bad_list_parameters_with_mss_00000003(fakecloud, params):
    response = huawei_request(fakecloud, "GET", avatar_path(), params)
    assert response.status_code == 400
    assert response.json() == {"error_code": "MSS.00000003", "error_msg": "Invalid parameter"}
    assert response.headers["X-Request-Id"]


def test_it_defaults_to_ten_avatar_jobs_oldest_first(fakecloud):
    page = huawei_request(fakecloud, "GET", avatar_path()).json()
    created = [j["create_time"] for j in page["jobs"]]
    assert len(page["jobs"]) == 10
    assert created == sorted(created)


def test_it_sorts_avatar_jobs_by_update_time_descending(fakecloud):
    jobs = _avatar(fakecloud, ("sort_key", "update_time"), ("sort_dir", "desc"))["jobs"]
    updated = [j["last_update_time"] for j in jobs]
    assert updated == sorted(updated, reverse=True)


def test_it_counts_all_matches_not_the_page(fakecloud):
    page = huawei_request(fakecloud, "GET", avatar_path(), [("offset", 25), ("limit", 3)]).json()
    assert page["count"] == len(fakecloud.jobs("avatar"))
    assert len(page["jobs"]) == 3


def test_it_filters_avatar_jobs_by_time_windows(fakecloud):
    jobs = _avatar(fakecloud)["jobs"]
    middle = sorted(j["create_time"] for j in jobs)[len(jobs) // 2]
    since = _avatar(fakecloud, ("create_since", middle))["jobs"]
    until = _avatar(fakecloud, ("create_until", middle))["jobs"]
    assert since and all(j["create_time"] >= middle for j in since)
    assert until and all(j["create_time"] <= middle for j in until)
    assert len(since) + len(until) == len(jobs) + 1
    updated = sorted(j["last_update_time"] for j in jobs)[len(jobs) // 2]
    recent = _avatar(fakecloud, ("update_since", updated))["jobs"]
    assert recent and all(j["last_update_time"] >= updated for j in recent)


@pytest.mark.parametrize(
    "name, value, check",
    [
        ("is_flexus", "true", lambda j: j["is_flexus"] is True),
        ("is_flexus", "false", lambda j: j["is_flexus"] is False),
        ("is_ondemand_resource", "true", lambda j: j["is_ondemand_resource"] is True),
        ("model_resolution", "4K", lambda j: j["model_resolution"] == "4K"),
        ("train_location", "cn-east-3", lambda j: j["optional_training_location"] == ["cn-east-3"]),
        ("state", "JOB_SUCCESS,AUTO_VERIFY_FAILED", lambda j: j["state"] in ("JOB_SUCCESS", "AUTO_VERIFY_FAILED")),
    ],
)
def test_it_filters_avatar_jobs_by_documented_parameters(fakecloud_session, name, value, check):
    everything = _avatar(fakecloud_session, ("offset", 0))["count"]
    matched, offset = [], 0
    while True:
        page = _avatar(fakecloud_session, (name, value), ("offset", offset))
        matched += page["jobs"]
        offset += 100
        if offset >= page["count"]:
            break
    assert 0 < len(matched) < everything
    assert all(check(j) for j in matched)


def test_it_filters_avatar_jobs_by_batch_tag_name_and_id(fakecloud):
    job_id = fakecloud.add_job("avatar", name="Filter Target 过滤", batch_name="batch-x", tags=["special"])
    assert [j["job_id"] for j in _avatar(fakecloud, ("batch_name", "batch-x"))["jobs"]] == [job_id]
    assert [j["job_id"] for j in _avatar(fakecloud, ("tag", "special"))["jobs"]] == [job_id]
    assert [j["job_id"] for j in _avatar(fakecloud, ("name", "target 过滤"))["jobs"]] == [job_id]
    assert [j["job_id"] for j in _avatar(fakecloud, ("job_id", job_id))["jobs"]] == [job_id]


def test_it_filters_voice_jobs_with_epoch_millisecond_times(fakecloud):
    jobs = _voice(fakecloud)["jobs"]
    middle = sorted(j["create_time"] for j in jobs)[len(jobs) // 2]
    since = _voice(fakecloud, ("create_since", middle))["jobs"]
    assert since and all(j["create_time"] >= middle for j in since)
    assert len(since) == sum(1 for j in jobs if j["create_time"] >= middle)


def test_it_filters_voice_jobs_by_name_type_tag_and_state(fakecloud):
    jobs = _voice(fakecloud)["jobs"]
    sample = jobs[0]
    assert all(j["job_type"] == "BASIC" for j in _voice(fakecloud, ("job_type", "BASIC"))["jobs"])
    assert all(j["tag"] == sample["tag"] for j in _voice(fakecloud, ("tag", sample["tag"]))["jobs"])
    assert sample["job_id"] in {j["job_id"] for j in _voice(fakecloud, ("voice_name", sample["voice_name"]))["jobs"]}
    failed = _voice(fakecloud, ("state", "FAILED,AUDIT_FAILED"))["jobs"]
    assert failed and {j["state"] for j in failed} <= {"FAILED", "AUDIT_FAILED"}
    assert all(j.get("job_failed_code") for j in failed if j["state"] == "FAILED")


def test_it_sorts_voice_jobs_ascending_when_asked(fakecloud):
    jobs = _voice(fakecloud, ("sort_dir", "asc"), ("sort_key", "update_time"))["jobs"]
    updated = [j["lastupdate_time"] for j in jobs]
    assert updated == sorted(updated)


def test_it_links_avatar_and_voice_jobs(fakecloud):
    avatars = {j["job_id"] for j in fakecloud.jobs("avatar")}
    voices = _voice(fakecloud)["jobs"]
    linked = [j for j in voices if j.get("dhtms_job_id")]
    assert linked
    for voice in linked:
        assert voice["dhtms_job_id"] in avatars
        detail = huawei_request(fakecloud, "GET", f"{avatar_path()}/{voice['dhtms_job_id']}").json()
        assert detail["voice_train_job_id"] == voice["job_id"]


def test_it_answers_unknown_apis_and_methods_like_the_gateway(fakecloud):
    missing = huawei_request(fakecloud, "GET", "/no-such-api")
    wrong_method = huawei_request(fakecloud, "DELETE", avatar_path())
    assert missing.status_code == 404 and missing.json()["error_code"] == "APIGW.0101"
    assert wrong_method.status_code == 400 and wrong_method.json()["error_code"] == "MSS.00010004"


def test_it_validates_ci_list_parameters(fakecloud):
    for params in (
        {"size": "101"},
        {"size": "0"},
        {"orderByTime": "Sideways"},
        {"states": "Done"},
        {"nextToken": "not-a-token"},
        {"startCreationTime": "yesterday"},
    ):
        response = cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation", **params})
        error = ET.fromstring(response.content)
        assert response.status_code == 400, params
        assert error.findtext("Code") == "InvalidArgument"
        assert [child.tag for child in error] == ["Code", "Message", "RequestId", "TraceId"]
    missing_tag = cos_request(fakecloud, "GET", "/ai_jobs", {"size": "5"})
    assert missing_tag.status_code == 400


def test_it_filters_ci_jobs_by_creation_time(fakecloud):
    everything = ET.fromstring(cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation", "size": "100"}).content)
    times = sorted(d.findtext("CreationTime") for d in everything.findall("JobsDetail"))
    middle = times[len(times) // 2]
    since = ET.fromstring(
        cos_request(
            fakecloud, "GET", "/ai_jobs", {"tag": "Translation", "size": "100", "startCreationTime": middle}
        ).content
    )
    found = [d.findtext("CreationTime") for d in since.findall("JobsDetail")]
    assert found and all(t >= middle for t in found)
    assert len(found) == sum(1 for t in times if t >= middle)


def test_it_answers_other_ci_tags_with_no_jobs(fakecloud):
    root = ET.fromstring(cos_request(fakecloud, "GET", "/jobs", {"tag": "Transcode"}).content)
    assert root.findall("JobsDetail") == [] and root.findtext("NextToken") in ("", None)


def test_it_rejects_malformed_and_incomplete_ci_submissions(fakecloud):
    broken = cos_request(fakecloud, "POST", "/ai_jobs", body=b"<Request><Tag>Translation<Tag></Request>")
    incomplete = cos_request(fakecloud, "POST", "/ai_jobs", body=b"<Request><Tag>Translation</Tag></Request>")
    assert broken.status_code == 400 and b"MalformedXML" in broken.content
    assert incomplete.status_code == 400 and b"InvalidArgument" in incomplete.content
    assert fakecloud.counters()["ci.submit"] == 2


def test_it_submits_on_ai_jobs_with_a_queue(fakecloud):
    tc = fakecloud.tencent
    body = (
        f"<Request><Tag>Translation</Tag><Input><Object>a b.txt</Object><Lang>en</Lang><Type>txt</Type></Input>"
        f"<Operation><Translation><Lang>zh</Lang><Type>txt</Type></Translation><Output><Region>{tc['region']}"
        f"</Region><Bucket>{tc['bucket']}</Bucket><Object>out.txt</Object></Output></Operation>"
        f"<QueueId>{tc['queue_id']}</QueueId></Request>"
    ).encode()
    response = cos_request(fakecloud, "POST", "/ai_jobs", body=body)
    job = ET.fromstring(response.content).find("JobsDetail")
    assert response.status_code == 200
    assert job.findtext("State") == "Submitted" and job.findtext("QueueId") == tc["queue_id"]
    assert job.findtext("JobId") in {j["job_id"] for j in fakecloud.jobs("translation")}

"""huaweicloudsdkmetastudio, unchanged, against fakecloud (the SDK is the oracle of fidelity)."""

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import (
    CommitShortJobRequest,
    CreateShortJobReq,
    CreateShortJobRequest,
    List2dModelTrainingJobRequest,
    ListJobOperationLogRequest,
    ListVoiceTrainingJobRequest,
    Show2dModelTrainingJobRequest,
    ShowJobAuditResultRequest,
    ShowShortJobRequest,
    ShowVoiceTrainingJobRequest,
)

from tests.fixtures_fakecloud import metastudio_client


def _all_avatar_jobs(client, **filters):
    jobs, offset = [], 0
    while True:
        page = client.list2d_model_training_job(List2dModelTrainingJobRequest(offset=offset, limit=100, **filters))
        jobs += page.jobs
        offset += 100
        if offset >= page.count:
            return jobs, page.count


def test_it_pages_through_every_avatar_job_exactly_once(fakecloud_session):
    jobs, count = _all_avatar_jobs(metastudio_client(fakecloud_session))
    expected = {j["job_id"] for j in fakecloud_session.jobs("avatar")}
    ids = [j.job_id for j in jobs]
    assert count == len(expected) == len(ids)
    assert set(ids) == expected
    assert fakecloud_session.counters()["avatar.list"] == -(-count // 100)


def test_it_honours_a_state_filter_in_the_sdk(fakecloud_session):
    wanted = {"TRAINING", "JOB_SUCCESS"}
    jobs, count = _all_avatar_jobs(metastudio_client(fakecloud_session), state=",".join(sorted(wanted)))
    expected = {j["job_id"] for j in fakecloud_session.jobs("avatar") if j["state"] in wanted}
    assert count == len(expected) > 0
    assert {j.job_id for j in jobs} == expected
    assert {j.state for j in jobs} <= wanted


def test_it_returns_the_request_id_header_on_avatar_lists(fakecloud):
    page = metastudio_client(fakecloud).list2d_model_training_job(List2dModelTrainingJobRequest(limit=1))
    assert len(page.x_request_id) == 32


def test_it_shows_an_avatar_job_with_its_logs(fakecloud):
    job_id = next(j["job_id"] for j in fakecloud.jobs("avatar") if j["state"] == "MANUAL_VERIFY_FAILED")
    detail = metastudio_client(fakecloud).show2d_model_training_job(Show2dModelTrainingJobRequest(job_id=job_id))
    assert detail.state == "MANUAL_VERIFY_FAILED"
    assert [log.log_type for log in detail.operation_logs][:2] == ["USER_CREATE_JOD", "USER_VERIFYING_SUBMITTED"]
    assert detail.operation_logs[-1].log_type == "ADMIN_VERIFY_FAILED"
    assert detail.comment_logs[-1].comment_type == "ADMIN_COMMENT"


def test_it_lists_voice_jobs_newest_first_by_default(fakecloud):
    page = metastudio_client(fakecloud).list_voice_training_job(ListVoiceTrainingJobRequest(limit=100))
    created = [j.create_time for j in page.jobs]
    assert page.count == len(fakecloud.jobs("voice")) == len(page.jobs)
    assert created == sorted(created, reverse=True)


def test_it_reads_voice_op_logs_and_details(fakecloud):
    client = metastudio_client(fakecloud)
    voice_id = next(j["job_id"] for j in fakecloud.jobs("voice") if j["state"] == "SUCCEED")
    detail = client.show_voice_training_job(ShowVoiceTrainingJobRequest(job_id=voice_id))
    logs = client.list_job_operation_log(ListJobOperationLogRequest(job_id=voice_id, limit=100))
    actions = [op.action for op in logs.operations]
    assert detail.state == "SUCCEED"
    assert logs.count == len(actions)
    assert actions[0] == "CREATE_JOB" and actions[-1] == "COMPLETE_JOB"
    assert [op.time for op in logs.operations] == sorted(op.time for op in logs.operations)


def test_it_pages_op_logs_with_offset_and_limit(fakecloud):
    client = metastudio_client(fakecloud)
    voice_id = next(j["job_id"] for j in fakecloud.jobs("voice") if j["state"] == "SUCCEED")
    everything = client.list_job_operation_log(ListJobOperationLogRequest(job_id=voice_id, limit=100))
    second = client.list_job_operation_log(ListJobOperationLogRequest(job_id=voice_id, offset=1, limit=2))
    assert second.count == everything.count
    assert [op.action for op in second.operations] == [op.action for op in everything.operations[1:3]]


def test_it_reads_the_audit_result_of_a_rejected_voice_job(fakecloud):
    client = metastudio_client(fakecloud)
    rejected = [j["job_id"] for j in fakecloud.jobs("voice") if j["state"] == "AUDIT_FAILED"]
    results = [client.show_job_audit_result(ShowJobAuditResultRequest(job_id=i)) for i in rejected]
    with_errors = [r for r in results if r.system_audit_result and r.system_audit_result.errors]
    admin_rejections = [r for r in results if r.admin_audit_result and r.admin_audit_result.message]
    assert with_errors and admin_rejections
    for r in with_errors:
        assert r.system_audit_result.errors[0].error_code.startswith("MSS.")


def test_it_creates_commits_and_shows_a_short_job(fakecloud):
    client = metastudio_client(fakecloud)
    created = client.create_short_job(
        CreateShortJobRequest(body=CreateShortJobReq(job_type="VOICE_ASSESS", language="CN"))
    )
    before = client.show_short_job(ShowShortJobRequest(job_id=created.job_id))
    client.commit_short_job(CommitShortJobRequest(job_id=created.job_id))
    fakecloud.advance(60)
    after = client.show_short_job(ShowShortJobRequest(job_id=created.job_id))
    assert before.state == "CREATING" and before.assess_result is None
    assert after.state in ("SUCCEED", "FAILED")
    if after.state == "SUCCEED":
        metrics = after.assess_result
        for name in ("speed", "sound", "snr", "reverb", "dnsmos_ovrl", "dnsmos_bak"):
            metric = getattr(metrics, name)
            assert metric.expected and metric.actual and metric.suggestion and metric.suggestion_en
            assert metric.status in (-1, 0, 1)
        assert metrics.suggestion
    else:
        assert after.job_failed_code and after.job_failed_reason


def test_it_refuses_to_commit_a_short_job_twice(fakecloud):
    client = metastudio_client(fakecloud)
    created = client.create_short_job(CreateShortJobRequest(body=CreateShortJobReq(job_type="VOICE_ASSESS")))
    client.commit_short_job(CommitShortJobRequest(job_id=created.job_id))
    with pytest.raises(ClientRequestException) as caught:
        client.commit_short_job(CommitShortJobRequest(job_id=created.job_id))
    assert caught.value.error_code == "MSS.00000003"


def test_it_shows_the_pre_generated_short_jobs(fakecloud):
    client = metastudio_client(fakecloud)
    ids = fakecloud.short_job_ids()
    shown = [client.show_short_job(ShowShortJobRequest(job_id=i)) for i in ids]
    assert ids and [s.job_id for s in shown] == ids
    assert all(s.job_type == "VOICE_ASSESS" for s in shown)
    assert any(s.assess_result is not None for s in shown)


def test_it_answers_a_wrong_secret_with_the_gateway_401(fakecloud):
    client = metastudio_client(fakecloud, sk="WRONG" + fakecloud.huawei["sk"][5:])
    with pytest.raises(ClientRequestException) as caught:
        client.list2d_model_training_job(List2dModelTrainingJobRequest(limit=1))
    assert caught.value.status_code == 401
    assert caught.value.error_code == "APIGW.0301"
    assert "verify aksk signature fail" in caught.value.error_msg
    assert caught.value.request_id
    assert fakecloud.counters()["huawei.auth_failures"] == 1


def test_it_answers_an_unknown_job_with_a_client_error(fakecloud):
    client = metastudio_client(fakecloud)
    with pytest.raises(ClientRequestException) as caught:
        client.show2d_model_training_job(Show2dModelTrainingJobRequest(job_id="0" * 32))
    assert caught.value.status_code == 404

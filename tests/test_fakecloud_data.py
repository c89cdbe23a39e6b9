"""The simulated data: deterministic, realistic, moving through the vendor state machines."""

import pytest

from fakecloud.data import AVATAR_FIXED_NAMES, PATHS
from fakecloud.testing import FakeCloudServer
from tests.fixtures_fakecloud import avatar_path, cos_request, huawei_request, voice_path

START = 1_760_000_000_000  # a fixed virtual start time, so two servers can be compared


def _snapshot(server):
    return {kind: server.jobs(kind) for kind in ("avatar", "voice", "short", "translation")}


def test_it_generates_the_same_jobs_from_the_same_seed():
    with (
        FakeCloudServer(jobs=25, seed=5, start_ms=START) as one,
        FakeCloudServer(jobs=25, seed=5, start_ms=START) as two,
    ):
        first, second = _snapshot(one), _snapshot(two)
        detail_one = huawei_request(one, "GET", f"{avatar_path()}/{first['avatar'][0]['job_id']}").json()
        detail_two = huawei_request(two, "GET", f"{avatar_path()}/{first['avatar'][0]['job_id']}").json()
    assert first == second
    assert detail_one == detail_two


def test_it_generates_other_jobs_from_another_seed():
    with (
        FakeCloudServer(jobs=25, seed=5, start_ms=START) as one,
        FakeCloudServer(jobs=25, seed=6, start_ms=START) as two,
    ):
        assert {j["job_id"] for j in one.jobs("avatar")}.isdisjoint(j["job_id"] for j in two.jobs("avatar"))


@pytest.mark.parametrize("jobs", [20, 200])
def test_it_always_names_some_jobs_to_break_naive_html(jobs):
    with FakeCloudServer(jobs=jobs, seed=jobs) as server:
        names = {j["name"] for j in server.jobs("avatar")}
    assert "<script>alert(1)</script>" in names
    assert "<img src=x onerror=alert(1)>" in names
    assert set(AVATAR_FIXED_NAMES.values()) <= names


def test_it_uses_chinese_english_and_awkward_names(fakecloud_session):
    names = [j["name"] for j in fakecloud_session.jobs("avatar")] + [j["name"] for j in fakecloud_session.jobs("voice")]
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in names)
    assert any(name.isascii() and " " in name for name in names)
    assert any('"' in name for name in names) and any("," in name for name in names)


def test_it_holds_every_outcome_even_in_a_small_data_set(fakecloud):
    for kind in ("avatar", "voice", "translation"):
        states = {j["state"] for j in fakecloud.jobs(kind)}
        finals = {path.states[-1] for _, path in PATHS[kind]}
        assert finals <= states, (kind, finals - states)


def test_it_moves_a_job_to_its_next_state_when_the_clock_advances(fakecloud):
    moving = [j for j in fakecloud.jobs("avatar") if fakecloud.job("avatar", j["job_id"])["next_transition_ms"]]
    job = fakecloud.job("avatar", moving[0]["job_id"])
    index = [t for t, _ in job["schedule"]].index(job["next_transition_ms"])
    before = huawei_request(fakecloud, "GET", f"{avatar_path()}/{job['job_id']}").json()
    fakecloud.advance((job["next_transition_ms"] - fakecloud.now_ms()) / 1000)
    after = huawei_request(fakecloud, "GET", f"{avatar_path()}/{job['job_id']}").json()
    listed = {
        j["job_id"]: j
        for j in huawei_request(fakecloud, "GET", avatar_path(), [("limit", 100), ("job_id", job["job_id"])]).json()[
            "jobs"
        ]
    }
    assert before["state"] == job["state"]
    assert after["state"] == job["schedule"][index][1] == listed[job["job_id"]]["state"]
    assert len(after["operation_logs"]) >= len(before["operation_logs"])
    assert after["last_update_time"] > before["last_update_time"]


def test_it_writes_voice_op_logs_as_the_job_moves(fakecloud):
    job_id = next(
        j["job_id"]
        for j in fakecloud.jobs("voice")
        if fakecloud.job("voice", j["job_id"])["path"] == "success" and j["state"] != "SUCCEED"
    )

    def logs():
        path = f"{voice_path()}/{job_id}/op-logs"
        return [o["action"] for o in huawei_request(fakecloud, "GET", path, [("limit", 100)]).json()["operations"]]

    before = logs()
    fakecloud.advance(30 * 86400)
    after = logs()
    assert after[: len(before)] == before
    assert after == [
        "CREATE_JOB",
        "COMMIT_JOB",
        "SYSTEM_AUDIT_PASS",
        "ADMIN_AUDIT_PASS",
        "TRAINING_FINISH",
        "UPLOADING_MODEL",
        "COMPLETE_JOB",
    ]
    assert fakecloud.job("voice", job_id)["state"] == "SUCCEED"


def test_it_keeps_a_running_demo_moving_within_minutes():
    with FakeCloudServer(jobs=300, seed=7) as server:
        now = server.now_ms()
        soon = [
            j
            for kind in ("avatar", "voice", "translation")
            for j in server.jobs(kind)
            if (server.job(kind, j["job_id"])["next_transition_ms"] or now + 10**9) <= now + 120_000
        ]
    assert len(soon) >= 10


def test_it_adds_and_removes_jobs(fakecloud):
    count = lambda: huawei_request(fakecloud, "GET", avatar_path()).json()["count"]  # noqa: E731
    before = count()
    job_id = fakecloud.add_job("avatar", name="新任务 <added>", state="TRAINING")
    added = huawei_request(fakecloud, "GET", f"{avatar_path()}/{job_id}").json()
    assert count() == before + 1
    assert added["name"] == "新任务 <added>" and added["state"] == "TRAINING"
    assert fakecloud.remove_job("avatar", job_id)
    assert count() == before
    assert huawei_request(fakecloud, "GET", f"{avatar_path()}/{job_id}").status_code == 404
    assert not fakecloud.remove_job("avatar", job_id)


def test_it_adds_a_job_with_a_schedule(fakecloud):
    job_id = fakecloud.add_job(
        "translation", object="in/添加.txt", schedule=[[0, "Submitted"], [60, "Running"], [120, "Failed"]]
    )
    states = []
    for _ in range(3):
        root = cos_request(fakecloud, "GET", f"/ai_jobs/{job_id}").text
        states.append(root.split("<State>")[1].split("</State>")[0])
        fakecloud.advance(60)
    assert states == ["Submitted", "Running", "Failed"]


def test_it_moves_a_job_to_a_state_on_request(fakecloud):
    job_id = fakecloud.jobs("voice")[0]["job_id"]
    fakecloud.set_state("voice", job_id, "USER_REVIEW_REJECT")
    detail = huawei_request(fakecloud, "GET", f"{voice_path()}/{job_id}").json()
    assert detail["state"] == "USER_REVIEW_REJECT"


def test_it_brings_new_jobs_after_the_start(fakecloud):
    before = len(fakecloud.jobs("avatar"))
    fakecloud.advance(5 * 3600)
    assert len(fakecloud.jobs("avatar")) > before


def test_it_reports_its_state_without_secrets(fakecloud):
    state = fakecloud.state()
    text = str(state)
    assert state["jobs"]["avatar"] == 30
    assert state["huawei"]["ak"] == fakecloud.huawei["ak"]
    assert state["short_job_ids"] == fakecloud.short_job_ids()
    assert fakecloud.huawei["sk"] not in text and fakecloud.tencent["secret_key"] not in text

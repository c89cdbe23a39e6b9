"""Every documented vendor state and the unified status it shows as, written out from the vendor
notes (docs/vendors/huawei-metastudio.md §2.3, §3.3, §5.2; docs/vendors/tencent-ci.md §3), and
what an undocumented state shows as (unknown, never a guess).

The tables below are deliberately not derived from jobs.status: a wrong line there (an
intermediate TRAIN_SUCCESS counted as done, an unknown state counted as failed) must disagree
with a line here.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings

from jobs import status, sync
from jobs.models import Job
from tests.fixtures_sync import StubProvider, make_record

Q, REV, RUN, ACT, PAU = "queued", "reviewing", "running", "needs_action", "paused"
OK, FAIL, CXL, UNK = "succeeded", "failed", "cancelled", "unknown"

AV, VT, VA, TR = "avatar_training", "voice_training", "voice_assessment", "translation"

# MetaStudio avatar jobs, §2.3, in the order of the console groups there.
AVATAR = {
    # to submit
    "WAIT_FILE_UPLOAD": ACT,
    # reviewing
    "AUTO_VERIFYING": REV,
    "MANUAL_VERIFYING": REV,
    # review failed
    "AUTO_VERIFY_FAILED": FAIL,
    "MANUAL_VERIFY_FAILED": FAIL,
    # "training": steps of one training. A step's *_SUCCESS is not the job's success (only
    # JOB_SUCCESS / JOB_FINISH are); WAIT_* is queued for the next step, a MANUAL_STOP_* paused,
    # a step's *_FAILED the job's failure; admins confirming or calibrating are reviewing.
    "MANUAL_VERIFY_SUCCESS": RUN,
    "WAIT_TRAINING_DATA_PREPROCESS": Q,
    "TRAINING_DATA_PREPROCESSING": RUN,
    "TRAINING_DATA_PREPROCESS_FAILED": FAIL,
    "TRAINING_DATA_PREPROCESS_SUCCESS": RUN,
    "TRAINING": RUN,
    "TRAIN_FAILED": FAIL,
    "TRAIN_SUCCESS": RUN,
    "INFERENCE_DATA_PREPROCESSING": RUN,
    "INFERENCE_DATA_PREPROCESS_FAILED": FAIL,
    "WAIT_MAIN_FILE_UPLOAD": ACT,  # the user must upload
    "MANUAL_STOP_INFERENCE_DATA_PREPROCESS": PAU,
    "MANUAL_STOP_TRAIN": PAU,
    "MANUAL_STOP_TRAINING_DATA_PREPROCESS": PAU,
    "WAIT_ADMIN_CONFIRM": REV,
    "WAIT_COMPILE": Q,
    "COMPILING": RUN,
    "COMPILE_FAILED": FAIL,
    "WAIT_GENERATE_ACTION": Q,
    "WAIT_ARRANGE": Q,
    "ACTION_GENERATE_DATA_PROCESSING": RUN,
    "MANUAL_STOP_ACTION_GENERATE_DATA_PROCESSING": PAU,
    "MANUAL_STOP_ACTION_GENERATE_ORI_PROCESSING": PAU,
    "ACTION_GENERATE_ORI_PROCESSING": RUN,
    "ACTION_GENERATE_DATA_FAILED": FAIL,
    "ACTION_GENERATE_ORI_FAILED": FAIL,
    "ACTION_GENERATE_ORI_SUCCESS": RUN,
    "GENERATE_ACTION_PREPROCESS_FAILED": FAIL,
    "WAIT_ADMIN_CALIBRATION": REV,
    "WAIT_ASSET_SYNC": RUN,  # the system publishes the asset: still moving by itself
    "WAIT_GENERATE_ACTION_MARK": Q,
    "ACTION_MARKING": RUN,
    # waiting for user review / rejected by the user / suspended (NA whitelist)
    "WAIT_USER_CONFIRM": ACT,
    "JOB_REJECT": CXL,
    "JOB_PENDING": PAU,
    # done
    "JOB_SUCCESS": OK,
    "JOB_FINISH": OK,
    # ungrouped: the test-video check, video analysis and action marking steps
    "WAIT_TEST_VIDEO_CHECK": Q,
    "TEST_VIDEO_CHECK_PROCESSING": RUN,
    "TEST_VIDEO_CHECK_SUCCESS": RUN,
    "TEST_VIDEO_CHECK_FAILED": FAIL,
    "VIDEO_ANALYZE_PROCESSING": RUN,
    "VIDEO_ANALYZE_SUCCESS": RUN,
    "VIDEO_ANALYZE_FAILED": FAIL,
    "ACTION_MARK_SUCCESS": RUN,
    "ACTION_MARK_FAILED": FAIL,
    "ACTION_MARK_UPLOADED": RUN,
    "MANUL_STOP_ACTION_MARK": PAU,  # sic
}

# MetaStudio voice JobState, §3.3 (voice training, and short jobs: §5.2).
VOICE = {
    "CREATING": Q,
    "SYSTEM_AUDITING": REV,  # automatic review
    "AUDITING": REV,  # manual review
    "WAITING_SPLIT": Q,
    "SPLITTING": RUN,
    "SPLIT_FAILED": ACT,  # "waiting for the user", not terminal
    "ANNOTATING": RUN,
    "WAITING": Q,  # queued for training
    "PROCESSING": RUN,  # training
    "RESULT_REVIEW": REV,
    "USER_RESULT_REVIEW": ACT,
    "USER_REVIEW_REJECT": ACT,  # waiting for the user
    "AUDIT_FAILED": ACT,  # "the user must upload again", not terminal
    "UPLOADING": RUN,
    "FAILED": FAIL,  # terminal
    "SUCCEED": OK,  # terminal
}

# CI translation State, tencent-ci.md §3.
TRANSLATION = {
    "Submitted": Q,
    "Running": RUN,
    "Success": OK,
    "Failed": FAIL,
    "Pause": PAU,
    "Cancel": CXL,
}

EXPECTED = {AV: AVATAR, VT: VOICE, VA: VOICE, TR: TRANSLATION}

# Not documented for the kind: another kind's state, another spelling, a new value, nothing.
UNDOCUMENTED = {
    AV: ["SUCCEED", "Success", "train_success", " TRAIN_SUCCESS", "JOB_SUCCEEDED", "TRAIN_CANCELLED", "", "FAILED"],
    VT: ["JOB_SUCCESS", "TRAIN_FAILED", "succeed", "SUCCEED ", "MOUNTING", "Failed", ""],
    VA: ["JOB_SUCCESS", "TRAIN_FAILED", "succeed", "ASSESS_FAILED", ""],
    TR: ["Succeeded", "success", "SUCCESS", "Failure", "FAILED", "Cancelled", "Paused", ""],
}

CASES = [(kind, state, unified) for kind, table in EXPECTED.items() for state, unified in table.items()]


def _section(path: str, start: str, end: str) -> str:
    text = (Path(settings.BASE_DIR) / path).read_text(encoding="utf-8")
    begin = text.index(start)
    return text[text.index("\n", begin) : text.index(end, begin)]


def _backticked(text: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_]+)`", text))


def test_the_tables_here_hold_exactly_the_states_the_vendor_notes_document():
    avatar = _backticked(_section("docs/vendors/huawei-metastudio.md", "### 2.3 Avatar", "### 2.4"))
    voice = _backticked(_section("docs/vendors/huawei-metastudio.md", "### 3.3 Voice", "### 3.4"))
    ci_state_row = next(
        line
        for line in _section("docs/vendors/tencent-ci.md", "## 3. `JobsDetail`", "## 4.").splitlines()
        if line.startswith("| `State`")
    )
    translation = _backticked(ci_state_row.split("|")[2])

    assert (len(avatar), len(voice), len(translation)) == (53, 16, 6)  # the counts the notes give
    assert set(AVATAR) == avatar
    assert set(VOICE) == voice
    assert set(TRANSLATION) == translation


def test_the_code_knows_exactly_the_documented_states_of_each_kind():
    assert {kind: set(table) for kind, table in status.TABLES.items()} == {
        kind: set(table) for kind, table in EXPECTED.items()
    }


@pytest.mark.parametrize(("kind", "state", "expected"), CASES, ids=[f"{k}:{s}" for k, s, _ in CASES])
def test_each_documented_state_has_its_unified_status(kind, state, expected):
    assert status.unified_status(kind, state) == expected


def test_only_the_final_states_count_as_succeeded():
    succeeded = {kind: {s for s in EXPECTED[kind] if status.unified_status(kind, s) == OK} for kind in EXPECTED}

    assert succeeded == {AV: {"JOB_SUCCESS", "JOB_FINISH"}, VT: {"SUCCEED"}, VA: {"SUCCEED"}, TR: {"Success"}}


@pytest.mark.parametrize("kind", list(UNDOCUMENTED))
def test_an_undocumented_state_is_unknown_never_a_guess(kind):
    states = UNDOCUMENTED[kind]
    assert {state: status.unified_status(kind, state) for state in states} == dict.fromkeys(states, UNK)


def test_a_kind_without_a_table_is_unknown():
    assert status.unified_status("lipsync_training", "JOB_SUCCESS") == UNK


def test_unknown_states_are_neither_refreshed_as_moving_nor_as_waiting():
    # An incremental refresh lists what can still move; an unknown state is not in any list
    # (a full listing brings it in) and no documented state is left out of both.
    for kind, table in EXPECTED.items():
        moving, waiting = set(status.moving_states(kind)), set(status.waiting_states(kind))
        assert moving == {s for s, u in table.items() if u in (Q, REV, RUN)}
        assert waiting == {s for s, u in table.items() if u in (ACT, PAU)}


# --- through a real sync: what a listed job is stored with ---------------------------------------


def _stored(account, kind, states):
    """Sync one job per state through the sync service; their stored (state, status)."""
    records = [make_record(kind, n, state=state, name=f"state {state!r}") for n, state in enumerate(states, 1)]
    p = StubProvider(records, page_size=50, kinds=(kind,))
    if kind == VA:  # short jobs cannot be listed: tracked by id, then read
        sync.track_jobs(account, VA, [r.remote_id for r in records])
    run = sync.sync_account_kind(account, kind, provider=p)
    assert run.outcome == "succeeded", (run.error_code, run.error_message)
    by_id = {r.remote_id: r.state for r in records}
    return {
        by_id[rid]: (state, unified) for rid, state, unified in Job.objects.values_list("remote_id", "state", "status")
    }


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [AV, VT, VA])
def test_a_sync_stores_every_metastudio_state_with_its_status_and_keeps_unknown_ones_raw(huawei_account, kind):
    states = [*EXPECTED[kind], *[s for s in UNDOCUMENTED[kind] if s]]

    stored = _stored(huawei_account, kind, states)

    assert stored == {
        **{state: (state, unified) for state, unified in EXPECTED[kind].items()},
        **{state: (state, UNK) for state in UNDOCUMENTED[kind] if state},
    }


@pytest.mark.django_db
def test_a_sync_stores_every_translation_state_with_its_status_and_keeps_unknown_ones_raw(tencent_account):
    states = [*TRANSLATION, *[s for s in UNDOCUMENTED[TR] if s]]

    stored = _stored(tencent_account, TR, states)

    assert stored == {
        **{state: (state, unified) for state, unified in TRANSLATION.items()},
        **{state: (state, UNK) for state in UNDOCUMENTED[TR] if state},
    }

"""Vendor state -> unified status, one table per job kind.

Unknown states map to UNKNOWN and are kept as they are (never dropped); the raw state is
always stored beside the unified status.
"""

from jobs.models import ACTIVE_STATUSES, SETTLED_STATUSES, WAITING_STATUSES, Kind, Status

S = Status

AVATAR_STATES = {
    # 待提交 (to submit)
    "WAIT_FILE_UPLOAD": S.NEEDS_ACTION,
    # 系统审核中 (reviewing)
    "AUTO_VERIFYING": S.REVIEWING,
    "MANUAL_VERIFYING": S.REVIEWING,
    # 审核未通过 (review failed)
    "AUTO_VERIFY_FAILED": S.FAILED,
    "MANUAL_VERIFY_FAILED": S.FAILED,
    # 算法训练中 (training) — admins handle these; users see "training".
    "MANUAL_VERIFY_SUCCESS": S.RUNNING,
    "WAIT_TRAINING_DATA_PREPROCESS": S.QUEUED,
    "TRAINING_DATA_PREPROCESSING": S.RUNNING,
    "TRAINING_DATA_PREPROCESS_FAILED": S.FAILED,
    "TRAINING_DATA_PREPROCESS_SUCCESS": S.RUNNING,
    "TRAINING": S.RUNNING,
    "TRAIN_FAILED": S.FAILED,
    "TRAIN_SUCCESS": S.RUNNING,
    "INFERENCE_DATA_PREPROCESSING": S.RUNNING,
    "INFERENCE_DATA_PREPROCESS_FAILED": S.FAILED,
    "WAIT_MAIN_FILE_UPLOAD": S.NEEDS_ACTION,
    "MANUAL_STOP_INFERENCE_DATA_PREPROCESS": S.PAUSED,
    "MANUAL_STOP_TRAIN": S.PAUSED,
    "MANUAL_STOP_TRAINING_DATA_PREPROCESS": S.PAUSED,
    "WAIT_ADMIN_CONFIRM": S.REVIEWING,
    "WAIT_COMPILE": S.QUEUED,
    "COMPILING": S.RUNNING,
    "COMPILE_FAILED": S.FAILED,
    "WAIT_GENERATE_ACTION": S.QUEUED,
    "WAIT_ARRANGE": S.QUEUED,
    "ACTION_GENERATE_DATA_PROCESSING": S.RUNNING,
    "MANUAL_STOP_ACTION_GENERATE_DATA_PROCESSING": S.PAUSED,
    "MANUAL_STOP_ACTION_GENERATE_ORI_PROCESSING": S.PAUSED,
    "ACTION_GENERATE_ORI_PROCESSING": S.RUNNING,
    "ACTION_GENERATE_DATA_FAILED": S.FAILED,
    "ACTION_GENERATE_ORI_FAILED": S.FAILED,
    "ACTION_GENERATE_ORI_SUCCESS": S.RUNNING,
    "GENERATE_ACTION_PREPROCESS_FAILED": S.FAILED,
    "WAIT_ADMIN_CALIBRATION": S.REVIEWING,
    "WAIT_ASSET_SYNC": S.RUNNING,
    "WAIT_GENERATE_ACTION_MARK": S.QUEUED,
    "ACTION_MARKING": S.RUNNING,
    # 待用户审核 / 用户驳回 / 挂起 (NA-whitelist users)
    "WAIT_USER_CONFIRM": S.NEEDS_ACTION,
    "JOB_REJECT": S.CANCELLED,
    "JOB_PENDING": S.PAUSED,
    # 已完成 (done)
    "JOB_SUCCESS": S.SUCCEEDED,
    "JOB_FINISH": S.SUCCEEDED,
    # Listed after the groups in the vendor doc.
    "WAIT_TEST_VIDEO_CHECK": S.QUEUED,
    "TEST_VIDEO_CHECK_PROCESSING": S.RUNNING,
    "TEST_VIDEO_CHECK_SUCCESS": S.RUNNING,
    "TEST_VIDEO_CHECK_FAILED": S.FAILED,
    "VIDEO_ANALYZE_PROCESSING": S.RUNNING,
    "VIDEO_ANALYZE_SUCCESS": S.RUNNING,
    "VIDEO_ANALYZE_FAILED": S.FAILED,
    "ACTION_MARK_SUCCESS": S.RUNNING,
    "ACTION_MARK_FAILED": S.FAILED,
    "ACTION_MARK_UPLOADED": S.RUNNING,
    "MANUL_STOP_ACTION_MARK": S.PAUSED,  # sic: the vendor spells it "MANUL"
}

# Voice training and short jobs share the JobState enum.
VOICE_STATES = {
    "CREATING": S.QUEUED,
    "SYSTEM_AUDITING": S.REVIEWING,
    "AUDITING": S.REVIEWING,
    "WAITING_SPLIT": S.QUEUED,
    "SPLITTING": S.RUNNING,
    "SPLIT_FAILED": S.NEEDS_ACTION,
    "ANNOTATING": S.RUNNING,
    "WAITING": S.QUEUED,
    "PROCESSING": S.RUNNING,
    "RESULT_REVIEW": S.REVIEWING,
    "USER_RESULT_REVIEW": S.NEEDS_ACTION,
    "USER_REVIEW_REJECT": S.NEEDS_ACTION,
    "AUDIT_FAILED": S.NEEDS_ACTION,
    "UPLOADING": S.RUNNING,
    "FAILED": S.FAILED,
    "SUCCEED": S.SUCCEEDED,
}

TRANSLATION_STATES = {
    "Submitted": S.QUEUED,
    "Running": S.RUNNING,
    "Success": S.SUCCEEDED,
    "Failed": S.FAILED,
    "Pause": S.PAUSED,
    "Cancel": S.CANCELLED,
}

TABLES = {
    Kind.AVATAR_TRAINING: AVATAR_STATES,
    Kind.VOICE_TRAINING: VOICE_STATES,
    Kind.VOICE_ASSESSMENT: VOICE_STATES,
    Kind.TRANSLATION: TRANSLATION_STATES,
}


def unified_status(kind: str, state: str) -> str:
    return TABLES.get(kind, {}).get(state, S.UNKNOWN).value


def unsettled_states(kind: str) -> list[str]:
    """The vendor states of ``kind`` a job can still leave by itself (not succeeded, failed or
    cancelled): what an incremental refresh lists. Sorted, so the request is the same each time."""
    return _states(kind, lambda status: status not in SETTLED_STATUSES)


def moving_states(kind: str) -> list[str]:
    """The unsettled states the vendor moves a job out of by itself (queued, reviewing,
    running): what every incremental refresh lists."""
    return _states(kind, lambda status: status in ACTIVE_STATUSES)


def waiting_states(kind: str) -> list[str]:
    """The unsettled states a job leaves only when a person acts (needs action, paused): an
    incremental refresh lists them every SYNC_WAITING_INTERVAL."""
    return _states(kind, lambda status: status in WAITING_STATUSES)


def _states(kind: str, keep) -> list[str]:
    return sorted(state for state, status in TABLES.get(kind, {}).items() if keep(status))

"""The simulated jobs: deterministic generation from a seed, vendor state machines, schedules.

Every job follows a *path* (a sequence of vendor states, each with the op-log entries written
when the job enters it) and a *schedule* (the virtual time, in epoch ms, at which it enters each
state of its path). The state at time t is the last schedule entry <= t, so advancing the clock
walks each job to its next transition, and op-logs are always consistent with the state.

Jobs are generated relative to the store's start time: most are settled long ago, some move
quickly (a transition every few minutes, so a running demo changes), some move slowly (stuck
candidates), and a few more arrive after the start. Everything derives from (seed, kind, index).
"""

import bisect
import gc
import hashlib
import random
import threading
import time
from array import array

KINDS = ("avatar", "voice", "short", "translation")
KIND_ALIASES = {
    "avatar": "avatar",
    "avatar_training": "avatar",
    "voice": "voice",
    "voice_training": "voice",
    "short": "short",
    "voice_assessment": "short",
    "assess": "short",
    "translation": "translation",
    "ci": "translation",
    "tencent": "translation",
}

MINUTE = 60
HOUR = 3600
DAY = 86400

# Job flags (one int per job keeps 100,000 jobs small).
FLEXUS, LIVE_COPY, FAST_FLEXUS, ONLY_HUMAN, BG_REPLACE, ONDEMAND, REMAKE = (1 << n for n in range(7))


def normalise_kind(kind):
    try:
        return KIND_ALIASES[str(kind).lower()]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}") from None


def _digest(*parts):
    return hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest()


def job_id_for(seed, kind, idx):
    h = _digest("fakecloud", seed, kind, idx)
    if kind == "avatar":
        return h  # 32 hex, as in the avatar list sample
    if kind == "translation":
        return "a" + h  # CI job ids: a letter and 32 hex
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # voice/short: UUIDs


# --- paths ---------------------------------------------------------------------------------


class Path:
    """states[i] is entered with events[i]; durations[i] = (lo, hi) seconds spent in state i."""

    __slots__ = ("name", "states", "events", "durations", "meta", "cache")

    def __init__(self, name, steps, **meta):
        self.cache = {}  # per-path facts that wire modules compute once
        self.name = name
        self.states = tuple(s[0] for s in steps)
        self.durations = tuple(s[1] for s in steps)
        self.events = tuple(tuple(s[2]) for s in steps)
        self.meta = meta


def _op(log_type, user="SYSTEM", error_code=None, description=None):
    """An avatar operation_logs entry."""
    return ("op", log_type, user, error_code, description)


def _comment(comment_type, title, message):
    """An avatar comment_logs entry."""
    return ("comment", comment_type, title, message)


def _act(action, operator="SYSTEM", **external_info):
    """A voice op-log entry."""
    return ("act", action, operator, external_info or None)


_AV = [
    ("WAIT_FILE_UPLOAD", (MINUTE, 2 * DAY), [_op("USER_CREATE_JOD", "USER")]),  # sic: "JOD"
    ("AUTO_VERIFYING", (30, 10 * MINUTE), [_op("USER_VERIFYING_SUBMITTED", "USER")]),
    ("MANUAL_VERIFYING", (HOUR, DAY), [_op("SYSTEM_VERIFY_SUCCESS")]),
    (
        "WAIT_TRAINING_DATA_PREPROCESS",
        (MINUTE, 2 * HOUR),
        [_op("ADMIN_VERIFY_SUCCESS", "ADMIN", description="审核通过")],
    ),
    ("TRAINING_DATA_PREPROCESSING", (10 * MINUTE, 2 * HOUR), [_op("SYSTEM_TRAIN_DATA_PREPROCESSING")]),
    ("TRAINING_DATA_PREPROCESS_SUCCESS", (MINUTE, HOUR), [_op("SYSTEM_TRAIN_DATA_PREPROCESS_SUCCESS")]),
    ("TRAINING", (6 * HOUR, 3 * DAY), [_op("SYSTEM_TRAINING")]),
    ("TRAIN_SUCCESS", (MINUTE, 30 * MINUTE), [_op("SYSTEM_TRAIN_SUCCESS")]),
    ("INFERENCE_DATA_PREPROCESSING", (10 * MINUTE, 3 * HOUR), [_op("SYSTEM_INFERENCE_DATA_PREPROCESSING")]),
]
_AV_DONE = ("JOB_SUCCESS", None, [_op("SYSTEM_INFERENCE_DATA_PREPROCESS_SUCCESS"), _op("SYSTEM_JOB_SUCCESS")])
_AV_CONFIRM = ("WAIT_USER_CONFIRM", (HOUR, 3 * DAY), [_op("SYSTEM_INFERENCE_DATA_PREPROCESS_SUCCESS")])
_AV_RESOLUTION = "视频分辨率不符合要求，仅支持1920x1080、1080x1920、3840x2160、2160x3840"

AVATAR_PATHS = [
    (40, Path("success", _AV + [_AV_DONE])),
    (
        8,
        Path(
            "success_compiled",
            _AV
            + [
                ("WAIT_COMPILE", (MINUTE, HOUR), [_op("SYSTEM_INFERENCE_DATA_PREPROCESS_SUCCESS")]),
                ("COMPILING", (10 * MINUTE, 2 * HOUR), [_op("SYSTEM_EXECUTE_COMPILE")]),
                ("JOB_SUCCESS", None, [_op("SYSTEM_COMPILE_SUCCESS"), _op("SYSTEM_JOB_SUCCESS")]),
            ],
        ),
    ),
    (4, Path("not_submitted", _AV[:1])),
    (
        6,
        Path(
            "auto_rejected",
            _AV[:2]
            + [
                (
                    "AUTO_VERIFY_FAILED",
                    None,
                    [_op("SYSTEM_VERIFY_FAILED", error_code="44005901", description=_AV_RESOLUTION)],
                ),
            ],
        ),
    ),
    (
        5,
        Path(
            "auto_rejected_resubmitted",
            _AV[:2]
            + [
                (
                    "AUTO_VERIFY_FAILED",
                    (HOUR, 3 * DAY),
                    [_op("SYSTEM_VERIFY_FAILED", error_code="44005901", description=_AV_RESOLUTION)],
                ),
                (
                    "AUTO_VERIFYING",
                    (30, 10 * MINUTE),
                    [_op("USER_UPDATE_VIDEO", "USER"), _op("USER_VERIFYING_SUBMITTED", "USER")],
                ),
            ]
            + _AV[2:]
            + [_AV_DONE],
        ),
    ),
    (
        5,
        Path(
            "manual_rejected",
            _AV[:3]
            + [
                (
                    "MANUAL_VERIFY_FAILED",
                    None,
                    [
                        _op("ADMIN_VERIFY_FAILED", "ADMIN", description="授权书签名与视频人物不一致"),
                        _comment("ADMIN_COMMENT", "审核不通过", "请上传本人签署的授权书后重新提交。"),
                    ],
                ),
            ],
        ),
    ),
    (
        3,
        Path(
            "preprocess_failed",
            _AV[:5]
            + [
                (
                    "TRAINING_DATA_PREPROCESS_FAILED",
                    None,
                    [_op("SYSTEM_TRAIN_DATA_PREPROCESS_FAILED", description="训练视频中未检测到稳定人脸")],
                ),
            ],
        ),
    ),
    (
        3,
        Path(
            "train_failed",
            _AV[:7]
            + [
                (
                    "TRAIN_FAILED",
                    None,
                    [_op("SYSTEM_TRAIN_FAILED", description="training worker exited with code 137")],
                ),
            ],
        ),
    ),
    (
        3,
        Path(
            "inference_failed",
            _AV[:9]
            + [
                (
                    "INFERENCE_DATA_PREPROCESS_FAILED",
                    None,
                    [_op("SYSTEM_INFERENCE_DATA_PREPROCESS_FAILED", description="推理数据预处理超时")],
                ),
            ],
        ),
    ),
    (
        4,
        Path(
            "user_accepted",
            _AV
            + [
                _AV_CONFIRM,
                ("JOB_FINISH", None, [_comment("USER_COMMENT", "确认验收", "效果满意，确认通过。")]),
            ],
        ),
    ),
    (
        2,
        Path(
            "user_rejected",
            _AV
            + [
                _AV_CONFIRM,
                ("JOB_REJECT", None, [_comment("USER_REJECT", "驳回", "口型与语音不同步，请重新训练。")]),
            ],
        ),
    ),
    (2, Path("awaiting_user", _AV + [(_AV_CONFIRM[0], None, _AV_CONFIRM[2])])),
    (1, Path("pending", _AV + [_AV_CONFIRM, ("JOB_PENDING", None, [])])),
    (
        2,
        Path(
            "stopped",
            _AV[:7]
            + [
                (
                    "MANUAL_STOP_TRAIN",
                    None,
                    [_op("ADMIN_STOP_TRAIN", "ADMIN", description="资源调度调整，人工中止训练")],
                )
            ],
        ),
    ),
    (
        2,
        Path(
            "test_video_failed",
            _AV[:8]
            + [
                ("WAIT_TEST_VIDEO_CHECK", (MINUTE, HOUR), [_op("WAIT_TEST_VIDEO_CHECK")]),
                ("TEST_VIDEO_CHECK_PROCESSING", (5 * MINUTE, HOUR), [_op("TEST_VIDEO_CHECK_PROCESSING")]),
                (
                    "TEST_VIDEO_CHECK_FAILED",
                    None,
                    [_op("TEST_VIDEO_CHECK_FAILED", description="测试视频口型检测未通过")],
                ),
            ],
        ),
    ),
]

_V = [
    ("CREATING", (5 * MINUTE, DAY), [_act("CREATE_JOB", "USER")]),
    ("SYSTEM_AUDITING", (30, 10 * MINUTE), [_act("COMMIT_JOB", "USER")]),
    ("AUDITING", (HOUR, DAY), [_act("SYSTEM_AUDIT_PASS")]),
    ("WAITING", (MINUTE, 6 * HOUR), [_act("ADMIN_AUDIT_PASS", "ADMIN")]),
    ("PROCESSING", (2 * HOUR, 2 * DAY), []),
    ("UPLOADING", (MINUTE, 30 * MINUTE), [_act("TRAINING_FINISH"), _act("UPLOADING_MODEL")]),
]
_V_DONE = ("SUCCEED", None, [_act("COMPLETE_JOB")])
_V_SPLIT = [
    ("WAITING_SPLIT", (MINUTE, HOUR), [_act("ADMIN_AUDIT_PASS", "ADMIN")]),
    ("SPLITTING", (10 * MINUTE, 2 * HOUR), []),
    ("ANNOTATING", (HOUR, DAY), []),
    ("WAITING", (MINUTE, 6 * HOUR), []),
]
_AUDIT_ERRORS = [
    {
        "audio_name": "003.wav",
        "text_name": "003.txt",
        "error_code": "MSS.20030011",
        "error_message": "音频与文本内容不一致",
    },
    {
        "audio_name": "017.wav",
        "text_name": "017.txt",
        "error_code": "MSS.20030012",
        "error_message": "音频存在明显背景噪声",
    },
]

VOICE_PATHS = [
    (38, Path("success", _V + [_V_DONE])),
    # Doc 000 spells the training-finished action MOUNTING_FINISH; some jobs carry it.
    (
        3,
        Path(
            "success_mounting",
            _V[:5]
            + [
                ("UPLOADING", (MINUTE, 30 * MINUTE), [_act("MOUNTING_FINISH"), _act("UPLOADING_MODEL")]),
                _V_DONE,
            ],
        ),
    ),
    (8, Path("success_split", _V[:3] + _V_SPLIT + _V[4:] + [_V_DONE], split=True)),
    (
        2,
        Path(
            "split_failed",
            _V[:3] + _V_SPLIT[:2] + [("SPLIT_FAILED", None, [])],
            split=True,
            failed=("MSS.20030021", "音频切分失败：未检测到有效语音段"),
        ),
    ),
    (4, Path("not_committed", _V[:1])),
    (
        5,
        Path(
            "system_audit_failed",
            _V[:2]
            + [
                ("AUDIT_FAILED", None, [_act("AUDIT_NOT_PASS", review_id_list=["rv-003", "rv-017"])]),
            ],
            audit_errors=True,
        ),
    ),
    (
        4,
        Path(
            "admin_audit_failed",
            _V[:3]
            + [
                (
                    "AUDIT_FAILED",
                    None,
                    [_act("AUDIT_NOT_PASS", "ADMIN", admin_audit_failure_reason="授权书与录音人不一致")],
                ),
            ],
            admin_rejected=True,
        ),
    ),
    (
        4,
        Path(
            "audit_failed_recommitted",
            _V[:2]
            + [
                ("AUDIT_FAILED", (HOUR, 2 * DAY), [_act("AUDIT_NOT_PASS", review_id_list=["rv-003"])]),
                ("SYSTEM_AUDITING", (30, 10 * MINUTE), [_act("COMMIT_JOB", "USER")]),
            ]
            + _V[2:]
            + [_V_DONE],
            reject_times=1,
            audit_errors=True,
        ),
    ),
    (
        4,
        Path("training_failed", _V[:5] + [("FAILED", None, [])], failed=("MSS.20030035", "训练失败：有效音频时长不足")),
    ),
    (
        3,
        Path(
            "result_review",
            _V[:5]
            + [
                ("RESULT_REVIEW", (HOUR, DAY), [_act("TRAINING_FINISH")]),
                ("UPLOADING", (MINUTE, 30 * MINUTE), [_act("UPLOADING_MODEL")]),
                _V_DONE,
            ],
        ),
    ),
    (
        3,
        Path(
            "user_reviewed",
            _V[:5]
            + [
                ("USER_RESULT_REVIEW", (HOUR, 2 * DAY), [_act("TRAINING_FINISH")]),
                ("UPLOADING", (MINUTE, 30 * MINUTE), [_act("UPLOADING_MODEL")]),
                _V_DONE,
            ],
        ),
    ),
    (
        2,
        Path(
            "user_review_rejected",
            _V[:5]
            + [
                ("USER_RESULT_REVIEW", (HOUR, 2 * DAY), [_act("TRAINING_FINISH")]),
                ("USER_REVIEW_REJECT", None, []),
            ],
        ),
    ),
]

SHORT_PATHS = [
    (
        70,
        Path(
            "assessed",
            [("CREATING", (MINUTE, HOUR), []), ("PROCESSING", (MINUTE, 10 * MINUTE), []), ("SUCCEED", None, [])],
        ),
    ),
    (
        8,
        Path(
            "assess_failed",
            [("CREATING", (MINUTE, HOUR), []), ("PROCESSING", (MINUTE, 10 * MINUTE), []), ("FAILED", None, [])],
            failed=("MSS.20030041", "音频文件解析失败，请检查压缩包中的音频格式"),
        ),
    ),
    (6, Path("not_committed", [("CREATING", None, [])])),
]
# A short job created through the API waits in CREATING; commit moves it on (see Store.commit_short).
SHORT_COMMITTED = Path("committed", [("CREATING", None, []), ("PROCESSING", (30, 30), []), ("SUCCEED", None, [])])
SHORT_COMMITTED_FAILED = Path(
    "committed_failed",
    [("CREATING", None, []), ("PROCESSING", (30, 30), []), ("FAILED", None, [])],
    failed=SHORT_PATHS[1][1].meta["failed"],
)

TRANSLATION_PATHS = [
    (
        70,
        Path(
            "success",
            [("Submitted", (10, 10 * MINUTE), []), ("Running", (MINUTE, 2 * HOUR), []), ("Success", None, [])],
        ),
    ),
    (10, Path("failed", [("Submitted", (10, 10 * MINUTE), []), ("Running", (MINUTE, HOUR), []), ("Failed", None, [])])),
    (5, Path("cancelled", [("Submitted", (MINUTE, 6 * HOUR), []), ("Cancel", None, [])])),
    (3, Path("paused", [("Submitted", (10, 10 * MINUTE), []), ("Running", (MINUTE, HOUR), []), ("Pause", None, [])])),
]
TRANSLATION_SUBMITTED = Path(
    "submitted", [("Submitted", (20, 20), []), ("Running", (90, 90), []), ("Success", None, [])]
)

PATHS = {"avatar": AVATAR_PATHS, "voice": VOICE_PATHS, "short": SHORT_PATHS, "translation": TRANSLATION_PATHS}
INITIAL_STATE = {"avatar": "WAIT_FILE_UPLOAD", "voice": "CREATING", "short": "CREATING", "translation": "Submitted"}


# --- jobs ----------------------------------------------------------------------------------


class Job:
    __slots__ = (
        "kind",
        "idx",
        "job_id",
        "name",
        "create_ms",
        "path",
        "times",
        "removed",
        "extra",
        "batch_name",
        "flags",
        "app_user_id",
    )

    def state_index(self, t):
        return bisect.bisect_right(self.times, t) - 1

    def state_at(self, t):
        i = self.state_index(t)
        return self.path.states[i] if i >= 0 else None

    def entered_ms(self, i):
        return self.times[i]

    def next_transition_ms(self, t):
        i = self.state_index(t)
        return self.times[i + 1] if i + 1 < len(self.times) else None

    def events_until(self, t):
        """[(time_ms, entry)] for every op-log entry written up to t, oldest first."""
        out = []
        for i in range(self.state_index(t) + 1):
            for n, entry in enumerate(self.path.events[i]):
                at = self.times[i] + n * 1000  # a state's later entries follow a second apart
                if at <= t:
                    out.append((at, entry))
        return out

    def schedule(self):
        return [(self.times[i], self.path.states[i]) for i in range(len(self.times))]


class AvatarJob(Job):
    __slots__ = (
        "tags",
        "model_version",
        "matting_type",
        "model_resolution",
        "train_location",
        "contact",
        "voice_train_job_id",
    )


class VoiceJob(Job):
    __slots__ = ("job_type", "tag", "sex", "language", "create_type", "phone", "dhtms_job_id")


class ShortJob(Job):
    __slots__ = ("language",)


class TranslationJob(Job):
    __slots__ = ("src_lang", "src_type", "dst_lang", "dst_type", "dst_object", "job_level")


JOB_CLASSES = {"avatar": AvatarJob, "voice": VoiceJob, "short": ShortJob, "translation": TranslationJob}


# --- names and attributes ------------------------------------------------------------------

_ZH_PEOPLE = ["小美", "晓雯", "王老师", "李经理", "阿杰", "佳怡", "子轩", "思琪", "张主播", "陈医生", "刘律师", "小七"]
_ZH_SUFFIX = ["直播版", "新闻播报", "电商带货", "客服形象", "课程讲解", "4K精修", "第二版", "试训", "春节特辑"]
_EN_PEOPLE = ["Lily", "Mia", "Ethan", "Grace", "Leo", "Anna", "Noah", "Chloe", "Oscar", "Ivy"]
_EN_ROLE = ["news anchor", "host", "tutor", "support agent", "sales rep", "livestreamer", "presenter"]
_TRICKY = [
    'Anchor "Mia", take 2',
    "A<B 对比测试",
    "Sales, South China 华南区",
    "O'Neil & Co <draft>",
    '=HYPERLINK("http://example.com","点我")',
    '客服\t制表符, "引号"',
]
# Fixed indices so that any data set of 20 or more jobs carries these names.
AVATAR_FIXED_NAMES = {
    3: "<script>alert(1)</script>",
    11: "<img src=x onerror=alert(1)>",
    17: 'Anchor "Mia", <v2>, 华南',
}
VOICE_FIXED_NAMES = {5: '<b>温柔女声</b> & "Warm", v1'}

_ZH_VOICES = ["温柔女声", "新闻男声", "客服音色", "童声朵朵", "沉稳旁白", "活力主播", "方言川普", "知性讲师"]
_EN_VOICES = ["Warm narrator", "Calm support", "Bright host", "Deep trailer voice", "Friendly tutor"]
_BATCHES = ["batch-2024Q4-01", "双十一直播", "education-wave-3", "新闻频道-一期", "demo", "客服中心, 华东"]
_AVATAR_TAGS = ["电商", "教育", "新闻", "客服", "demo", "VIP", "4K"]
_VOICE_TAGS = ["ECOMMERCE", "NEWS", "MARKETING", "LIVE", "EDUCATION", "CUSTOMER", "STORYTELLING"]
_LOCATIONS = ["cn-north-4", "cn-east-3", "ap-southeast-3"]
_CI_LANGS = ["zh", "en", "ja", "ko", "fr", "de", "es", "ru"]
_CI_TYPES = ["docx", "pdf", "pptx", "xlsx", "txt", "html", "markdown", "jpg", "png"]
_CI_STEMS = [
    "产品手册",
    "user-guide",
    "季度报告 Q3",
    "contract_final",
    "菜单",
    "slides",
    "release notes",
    "合同, 草稿",
    "FAQ",
    "培训材料",
]


class Weighted:
    """A fixed weighted choice: Weighted([(weight, value), ...]).pick(rng)."""

    def __init__(self, options):
        self.values = [v for _, v in options]
        self.cumulative = []
        acc = 0
        for w, _ in options:
            acc += w
            self.cumulative.append(acc)

    def pick(self, rng):
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


# How many of a kind's jobs are in flight (moving fast or slowly) at the start: 40 % of a small
# data set, so a demo visibly moves, but no more than IN_FLIGHT_JOBS in all. A tenant with
# 100,000 jobs has a few thousand in progress, not 40,000, and what an incremental refresh
# costs depends on it (bench/quota). Jobs settled on a path that ends waiting on a person (an
# abandoned upload, a failed review) stay unsettled for good, as they do at the vendor.
IN_FLIGHT_SHARE = 0.4
IN_FLIGHT_JOBS = 2000


def _mode(rng, in_flight):
    """settled | fast | slow, with ``in_flight`` the share of the latter two (half each)."""
    u = rng.random()
    if u < 1 - in_flight:
        return "settled"
    return "fast" if u < 1 - in_flight / 2 else "slow"


_MODEL_VERSIONS = Weighted([(70, "V3.2"), (20, "V3"), (10, "V2")])
_VOICE_TYPES = Weighted(
    [(45, "BASIC"), (20, "MIDDLE"), (10, "ADVANCE"), (15, "FLEXUS"), (5, "THIRD_PARTY"), (5, "THIRD_PARTY_LJZN")]
)


def _phone(rng):
    return f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}"


def _avatar_name(rng, idx):
    if idx in AVATAR_FIXED_NAMES:
        return AVATAR_FIXED_NAMES[idx]
    roll = rng.random()
    if roll < 0.04:
        return rng.choice(_TRICKY)
    if roll < 0.45:
        return f"{rng.choice(_ZH_PEOPLE)}-{rng.choice(_ZH_SUFFIX)}"
    if roll < 0.8:
        return f"{rng.choice(_EN_PEOPLE)} {rng.choice(_EN_ROLE)} {rng.randint(1, 99)}"
    return f"{rng.choice(_ZH_PEOPLE)}（{rng.choice(_EN_PEOPLE)}）"


def _voice_name(rng, idx):
    if idx in VOICE_FIXED_NAMES:
        return VOICE_FIXED_NAMES[idx]
    roll = rng.random()
    if roll < 0.04:
        return rng.choice(_TRICKY)
    if roll < 0.6:
        return f"{rng.choice(_ZH_VOICES)}-{rng.choice(_ZH_PEOPLE)}"
    return f"{rng.choice(_EN_VOICES)} {rng.randint(1, 50)}"


# --- the store -----------------------------------------------------------------------------


class KindStore:
    """The jobs of one kind, plus a cached snapshot of their states for listing."""

    def __init__(self, kind):
        self.kind = kind
        self.jobs = []  # sorted by (create_ms, job_id): the default listing order
        self.by_id = {}
        self.all_times = array("q")  # every schedule time of every job, sorted
        self._snap = None

    def _sort_key(self, job):
        return (job.create_ms, job.job_id)

    def insert(self, job):
        key = self._sort_key(job)
        if not self.jobs or key >= self._sort_key(self.jobs[-1]):
            self.jobs.append(job)
        else:  # rare (a test adds a job with an old create time): O(N) is fine
            pos = bisect.bisect_right([self._sort_key(j) for j in self.jobs], key)
            self.jobs.insert(pos, job)
        self.by_id[job.job_id] = job
        for t in job.times:
            bisect.insort(self.all_times, t)

    def retime(self, job, new_times):
        for t in job.times:
            i = bisect.bisect_left(self.all_times, t)
            if i < len(self.all_times) and self.all_times[i] == t:
                del self.all_times[i]
        job.times = new_times
        for t in new_times:
            bisect.insort(self.all_times, t)


class Snapshot:
    """States of every visible job at one virtual time; listings are cached per query."""

    def __init__(self, t, epoch, rows):
        self.t = t
        self.epoch = epoch
        self.rows = rows  # [(job, state_index)] in default order (create time asc, id)
        self.states = []  # state index per position in KindStore.jobs (-1: not created yet)
        self.active = []  # positions of jobs with a transition after t
        self.built = time.monotonic()
        self._cache = {}
        self._lock = threading.Lock()

    def select(self, key, predicate=None, sort=None, reverse=False):
        """Rows passing predicate(job, si), sorted by sort(job, si) (default order if None)."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        rows = self.rows if predicate is None else [r for r in self.rows if predicate(*r)]
        if sort is not None:
            rows = sorted(rows, key=lambda r: sort(*r), reverse=reverse)
        elif reverse:
            rows = rows[::-1]
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = rows
        return rows


class Store:
    def __init__(self, clock, seed=7, jobs=300, short_jobs=None, arrivals=None):
        self.clock = clock
        self.seed = seed
        self.size = jobs
        self.start_ms = clock.start_ms
        self.lock = threading.RLock()
        self.epoch = 0  # bumped by every change that is not the passing of time
        self.kinds = {kind: KindStore(kind) for kind in KINDS}
        self._counter = 0
        if short_jobs is None:
            short_jobs = min(jobs, 50)
        if arrivals is None:
            arrivals = jobs // 20
        self._generate(jobs, short_jobs, arrivals)

    # generation

    def _schedule(self, rng, path, mode):
        """Schedule times (epoch ms) for a job following path; mode settled|fast|slow|arrival."""
        t0 = self.start_ms / 1000
        spans = path.durations
        n = len(spans)
        rand = rng.random
        if mode == "arrival":
            durations = [40 + rand() * 380 for _ in range(n - 1)]
            create = t0 + 120 + rand() * (4 * HOUR - 120)
        elif n == 1 or mode == "settled":
            durations = [lo + rand() * (hi - lo) for lo, hi in spans[:-1]]
            create = t0 - sum(durations) - HOUR - rand() * 59 * DAY
        else:
            k = rng.randrange(n - 1)  # the job is in state k at the start time
            before = [lo + rand() * (hi - lo) for lo, hi in spans[:k]]
            if mode == "fast":
                entered = t0 - rand() * 240
                after = [40 + rand() * 380 for _ in range(k, n - 1)]
            else:
                lo, hi = spans[k]
                entered = t0 - rand() * hi * 1.5
                after = [lo + rand() * (hi - lo) for lo, hi in spans[k:-1]]
                after[0] = max(after[0], t0 - entered + 10 * MINUTE + rand() * 2 * DAY)
            durations = before + after
            create = entered - sum(before)
        t = create
        times = [int(t * 1000)]
        for d in durations:
            t += d
            times.append(int(t * 1000))
        return array("q", times)

    def _generate(self, jobs, short_jobs, arrivals):
        # Hundreds of thousands of long-lived objects: keep the cyclic GC from rescanning them.
        gc.disable()
        try:
            self._generate_all(jobs, short_jobs, arrivals)
        finally:
            gc.enable()
            gc.freeze()

    def _generate_all(self, jobs, short_jobs, arrivals):
        seed = self.seed
        counts = {"avatar": jobs, "voice": jobs, "short": short_jobs, "translation": jobs}
        for kind in KINDS:
            rng = random.Random(f"fakecloud:{seed}:{kind}")
            visible = counts[kind]
            total = visible + (arrivals if kind != "short" else 0)
            store = self.kinds[kind]
            path_choice = Weighted(PATHS[kind])
            in_flight = min(IN_FLIGHT_SHARE, IN_FLIGHT_JOBS / max(1, visible))
            made = []
            for idx in range(total):
                path = path_choice.pick(rng)
                mode = _mode(rng, in_flight) if idx < visible else "arrival"
                if idx < len(PATHS[kind]) and idx < visible:
                    # The first jobs walk every path to its end, so even a small data set
                    # holds every outcome (success, each failure, each review rejection).
                    path, mode = PATHS[kind][idx][1], "settled"
                job = JOB_CLASSES[kind]()
                job.kind = kind
                job.idx = idx
                job.job_id = job_id_for(seed, kind, idx)
                job.path = path
                job.times = self._schedule(rng, path, mode)
                job.create_ms = job.times[0]
                job.removed = False
                job.extra = None
                job.app_user_id = None
                getattr(self, f"_fill_{kind}")(rng, job, jobs)
                made.append(job)
            made.sort(key=store._sort_key)
            store.jobs = made
            store.by_id = {j.job_id: j for j in made}
            store.all_times = array("q", sorted(t for j in made for t in j.times))
        self._counter = max(counts.values()) + arrivals

    def _fill_avatar(self, rng, job, n):
        job.name = _avatar_name(rng, job.idx)
        job.batch_name = rng.choice(_BATCHES) if rng.random() < 0.55 else None
        job.tags = tuple(rng.sample(_AVATAR_TAGS, rng.randint(0, 2)))
        flags = 0
        if rng.random() < 0.25:
            flags |= FLEXUS
            if rng.random() < 0.4:
                flags |= FAST_FLEXUS
            if rng.random() < 0.3:
                flags |= ONLY_HUMAN
        if rng.random() < 0.1:
            flags |= LIVE_COPY
        if rng.random() < 0.15:
            flags |= BG_REPLACE
        if rng.random() < 0.2:
            flags |= ONDEMAND
        job.flags = flags
        if flags & FAST_FLEXUS:
            job.model_version = "V3.3"
        else:
            job.model_version = _MODEL_VERSIONS.pick(rng)
        job.matting_type = "AI" if rng.random() < 0.9 else "MANUAL"
        job.model_resolution = "1080P" if rng.random() < 0.8 else "4K"
        job.train_location = rng.choice(_LOCATIONS)
        job.contact = _phone(rng)
        if rng.random() < 0.1:
            job.app_user_id = f"crm-user-{rng.randint(1, 40):03d}"
        # Every fourth avatar job made with a voice is linked to the voice job of the same index.
        linked = job.idx % 4 == 0 and job.idx < n and not flags & ONLY_HUMAN
        job.voice_train_job_id = job_id_for(self.seed, "voice", job.idx) if linked else None

    def _fill_voice(self, rng, job, n):
        job.name = _voice_name(rng, job.idx)
        job.batch_name = rng.choice(_BATCHES) if rng.random() < 0.5 else None
        if job.path.meta.get("split"):
            job.job_type = rng.choice(["MIDDLE", "ADVANCE"])
        else:
            job.job_type = _VOICE_TYPES.pick(rng)
        job.tag = rng.choice(_VOICE_TAGS)
        job.sex = rng.choice(["FEMALE", "MALE"])
        job.language = "CN" if rng.random() < 0.75 else "EN"
        job.create_type = "PACKAGE" if rng.random() < 0.7 else "SEGMENT"
        job.phone = _phone(rng)
        flags = 0
        if rng.random() < 0.2:
            flags |= ONDEMAND
        if job.path.meta.get("reject_times"):
            flags |= REMAKE
        job.flags = flags
        if rng.random() < 0.1:
            job.app_user_id = f"crm-user-{rng.randint(1, 40):03d}"
        linked = job.idx % 4 == 0 and job.idx < n
        job.dhtms_job_id = job_id_for(self.seed, "avatar", job.idx) if linked else None

    def _fill_short(self, rng, job, n):
        job.name = None
        job.batch_name = None
        job.flags = 0
        job.language = "CN" if rng.random() < 0.8 else "EN"

    def _fill_translation(self, rng, job, n):
        src = "zh" if rng.random() < 0.45 else ("en" if rng.random() < 0.6 else rng.choice(_CI_LANGS[2:]))
        if src.startswith("zh"):
            dst = rng.choice(["en", "ja", "ko", "fr", "de"])
        elif src == "en":
            dst = rng.choice(["zh", "zh-tw", "ja", "fr"])
        else:
            dst = rng.choice(["zh", "en"])
        src_type = rng.choice(_CI_TYPES)
        if src_type in ("jpg", "png"):
            dst_type = "txt"
        elif src_type == "pdf":
            dst_type = rng.choice(["pdf", "docx"])
        else:
            dst_type = src_type
        stem = rng.choice(_CI_STEMS)
        folder = rng.choice(["input", "docs/2025", "客户资料", "uploads/team a"])
        job.name = f"{folder}/{stem}-{job.idx}.{src_type}"
        job.batch_name = None
        job.flags = 0
        job.src_lang, job.src_type, job.dst_lang, job.dst_type = src, src_type, dst, dst_type
        job.dst_object = f"translated/{stem}-{job.idx}.{dst}.{dst_type}"
        job.job_level = rng.choice(["0", "0", "0", "1", "2"])

    # reads

    def kind(self, kind):
        return self.kinds[normalise_kind(kind)]

    def snapshot(self, kind):
        """The listing snapshot at the current virtual time (see the module docstring)."""
        ks = self.kinds[kind]
        now = self.clock.now_ms()
        with self.lock:
            snap = ks._snap
            if snap is not None and snap.epoch == self.epoch:
                if snap.t == now:
                    return snap
                lo = bisect.bisect_right(ks.all_times, snap.t)
                hi = bisect.bisect_right(ks.all_times, now)
                if lo == hi:
                    return snap  # no job changed state in between
                if time.monotonic() - snap.built < 1.0:
                    return snap  # running clock: rebuild at most once a second
            jobs = ks.jobs
            if snap is not None and snap.epoch == self.epoch and now > snap.t:
                # Same jobs, later time: only jobs with a transition still ahead can change.
                states = snap.states[:]
                positions = snap.active
            else:
                states = [-1] * len(jobs)
                positions = range(len(jobs))
            active = []
            gc_was_on = gc.isenabled()
            gc.disable()  # 100,000 new tuples would trigger full collections; none are cycles
            try:
                rows = self._rows(jobs, states, positions, active, now)
            finally:
                if gc_was_on:
                    gc.enable()
            snap = Snapshot(now, self.epoch, rows)
            snap.states, snap.active = states, active
            ks._snap = snap
            return snap

    @staticmethod
    def _rows(jobs, states, positions, active, now):
        bisect_right = bisect.bisect_right
        for pos in positions:
            times = jobs[pos].times
            if times[-1] <= now:  # settled: the common case, no search
                states[pos] = len(times) - 1
            else:
                states[pos] = bisect_right(times, now) - 1
                active.append(pos)
        return [(job, si) for job, si in zip(jobs, states) if si >= 0 and not job.removed]

    def get(self, kind, job_id):
        job = self.kinds[kind].by_id.get(job_id)
        if job is None or job.removed or job.create_ms > self.clock.now_ms():
            return None
        return job

    def visible_count(self, kind):
        return len(self.snapshot(kind).rows)

    # writes (the control API)

    def _bump(self):
        self.epoch += 1

    def new_id(self, kind):
        with self.lock:
            self._counter += 1
            return job_id_for(f"{self.seed}:added", kind, self._counter)

    def add_job(self, kind, fields=None, job_id=None, state=None, schedule=None, path=None):
        """Add a job created now. schedule: [[seconds from now, state], ...] (first entry at 0)."""
        kind = normalise_kind(kind)
        fields = dict(fields or {})
        now = self.clock.now_ms()
        rng = random.Random(f"fakecloud:{self.seed}:added:{kind}:{self._counter}")
        job = JOB_CLASSES[kind]()
        job.kind = kind
        job.idx = -1
        job.job_id = job_id or fields.pop("job_id", None) or self.new_id(kind)
        if path is None:
            if schedule:
                steps = [(s, None, []) for _, s in schedule]
                times = [now + int(float(off) * 1000) for off, _ in schedule]
            else:
                steps = [(state or INITIAL_STATE[kind], None, [])]
                times = [now]
            path = Path("added", steps)
        else:
            times = [now]
            for lo, _hi in path.durations[:-1]:
                times.append(times[-1] + int(lo * 1000))
        job.path = path
        job.times = array("q", times)
        job.create_ms = job.times[0]
        job.removed = False
        job.app_user_id = None
        getattr(self, f"_fill_{kind}")(rng, job, 0)
        for attr in ("name", "batch_name", "app_user_id"):
            if attr in fields:
                setattr(job, attr, fields.pop(attr))
        if kind == "voice" and "voice_name" in fields:
            job.name = fields.pop("voice_name")
        if kind == "translation" and "object" in fields:
            job.name = fields.pop("object")
        for attr in JOB_CLASSES[kind].__slots__:
            if attr in fields:
                value = fields.pop(attr)
                setattr(job, attr, tuple(value) if isinstance(value, list) else value)
        job.extra = fields or None
        with self.lock:
            if job.job_id in self.kinds[kind].by_id:
                raise ValueError(f"job {job.job_id} already exists")
            self.kinds[kind].insert(job)
            self._bump()
        return job

    def remove_job(self, kind, job_id):
        kind = normalise_kind(kind)
        with self.lock:
            job = self.kinds[kind].by_id.get(job_id)
            if job is None or job.removed:
                return False
            job.removed = True
            self._bump()
            return True

    def set_state(self, kind, job_id, state, events=()):
        """Move a job to `state` now (its remaining schedule is dropped)."""
        kind = normalise_kind(kind)
        now = self.clock.now_ms()
        with self.lock:
            ks = self.kinds[kind]
            job = ks.by_id.get(job_id)
            if job is None or job.removed:
                return None
            i = job.state_index(now)
            keep = max(i + 1, 1)
            steps = [(job.path.states[j], job.path.durations[j], job.path.events[j]) for j in range(keep)]
            steps.append((state, None, list(events)))
            job.path = Path(job.path.name + "+set", steps, **job.path.meta)
            ks.retime(job, array("q", list(job.times[:keep]) + [max(now, job.times[keep - 1])]))
            self._bump()
            return job

    def commit_short(self, job_id):
        """CommitShortJob: CREATING -> PROCESSING now -> SUCCEED (or FAILED) 30 s later."""
        now = self.clock.now_ms()
        with self.lock:
            ks = self.kinds["short"]
            job = ks.by_id.get(job_id)
            if job is None or job.removed:
                return None
            if job.state_at(now) != "CREATING" or len(job.times) > 1:
                return False
            fails = int(job.job_id.replace("-", "")[:2], 16) < 26  # about one in ten
            job.path = SHORT_COMMITTED_FAILED if fails else SHORT_COMMITTED
            ks.retime(job, array("q", [job.times[0], now, now + 30_000]))
            self._bump()
            return job

    def advance(self, seconds):
        with self.lock:
            self._bump()
        return self.clock.advance(seconds)

    def short_job_ids(self):
        return [j.job_id for j in self.kinds["short"].jobs if not j.removed]

"""The parsers' output is pinned to the normalisation version (jobs.providers.NORMALISATION_VERSIONS).

A listed job's fingerprint holds its kind's normalisation version, not the parsers' source:
editing a comment or moving a function rewrites no cached row, and a release whose parsers
make different records from the same vendor JSON must bump the version on purpose (then the
next sync re-normalises every cached job of those kinds once).

This test runs the parsers over the documented samples (tests/data/seeds) and samples recorded
from fakecloud (tests/data/normalisation/*.json, *.xml) and compares the records with
tests/data/normalisation/golden.json. After a deliberate change, bump the version and re-record:

    GOLDEN_UPDATE=1 scripts/test tests/test_normalisation_golden.py

That run rewrites golden.json and fails on purpose; review the diff and rerun without GOLDEN_UPDATE.
"""

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from jobs.providers import NORMALISATION_VERSIONS, huawei, tencent

DATA = Path(__file__).parent / "data"
SAMPLES = DATA / "normalisation"
GOLDEN = SAMPLES / "golden.json"


def _seed(prefix: str) -> str:
    return next((DATA / "seeds").glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def _seed_avatar_list() -> dict:
    text = _seed("002")
    start = text.index("{", text.index("Example Responses"))
    return json.JSONDecoder().raw_decode(text[start:])[0]


def _seed_ci_list() -> bytes:
    text = _seed("004")
    sample = text[text.index("x-ci-request-id:") :]
    xml = sample[sample.index("<Response>") : sample.index("</Response>") + len("</Response>")]
    return xml.replace("<Tag>Translation<Tag>", "<Tag>Translation</Tag>").encode()  # the page's typo


def _json(name: str):
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def _ci_records(xml: bytes) -> list:
    root = tencent.parse_xml(xml)
    return [
        tencent.listed_translation(tencent.element_to_dict_checked(e)).record() for e in root if e.tag == "JobsDetail"
    ]


# sample name -> (kind, function returning the records the sync would store)
CASES = {
    "seed-002 avatar list": (
        "avatar_training",
        lambda: [huawei.listed_avatar(i).record() for i in _seed_avatar_list()["jobs"]],
    ),
    "fakecloud avatar list": (
        "avatar_training",
        lambda: [huawei.listed_avatar(i).record() for i in _json("avatar_list.json")["jobs"]],
    ),
    "fakecloud avatar details": (
        "avatar_training",
        lambda: [huawei.avatar_record(i) for i in _json("avatar_show.json")],
    ),
    "fakecloud voice list": (
        "voice_training",
        lambda: [huawei.listed_voice(i).record() for i in _json("voice_list.json")["jobs"]],
    ),
    "fakecloud voice details": ("voice_training", lambda: [huawei.voice_record(i) for i in _json("voice_show.json")]),
    "fakecloud short jobs": (
        "voice_assessment",
        lambda: [huawei.short_job_record(i) for i in _json("short_jobs.json")],
    ),
    "seed-004 CI list": ("translation", lambda: _ci_records(_seed_ci_list())),
    "fakecloud CI list": ("translation", lambda: _ci_records((SAMPLES / "ci_list.xml").read_bytes())),
}


def _plain(value):
    """A record as JSON: datetimes in ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def current() -> dict:
    return {
        "versions": dict(sorted(NORMALISATION_VERSIONS.items())),
        "samples": {name: {"kind": kind, "records": _plain(build())} for name, (kind, build) in CASES.items()},
    }


def test_every_sample_is_parsed_into_records():
    for name, sample in current()["samples"].items():
        assert sample["records"], f"{name}: no records"
    assert {kind for kind, _ in CASES.values()} == set(NORMALISATION_VERSIONS)


def check(now: dict, golden: dict) -> tuple[list[str], list[str]]:
    """(kinds whose records changed without a version bump, kinds bumped but not re-recorded)."""
    changed = {sample["kind"] for name, sample in now["samples"].items() if golden["samples"].get(name) != sample}
    unbumped = sorted(kind for kind in changed if now["versions"][kind] == golden["versions"].get(kind))
    unrecorded = sorted(kind for kind, version in now["versions"].items() if golden["versions"].get(kind) != version)
    return unbumped, unrecorded


def test_parser_output_changes_only_with_a_normalisation_version_bump():
    now = current()
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.write_text(json.dumps(now, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        # comparing the file just written with itself would prove nothing: never pass this way
        pytest.fail(
            f"re-recorded {GOLDEN.relative_to(DATA.parent.parent)}; review its diff and rerun without GOLDEN_UPDATE"
        )
    unbumped, unrecorded = check(now, json.loads(GOLDEN.read_text(encoding="utf-8")))

    assert unbumped == [], (
        f"the parsers now make different records for {unbumped} from the same vendor JSON: bump "
        "NORMALISATION_VERSION next to those parsers, then re-record with GOLDEN_UPDATE=1"
    )
    assert unrecorded == [], f"NORMALISATION_VERSION changed for {unrecorded}: re-record with GOLDEN_UPDATE=1"


@pytest.mark.parametrize("kind", ["avatar_training", "voice_assessment", "translation"])
def test_a_changed_record_is_caught_until_its_version_is_bumped_and_recorded(kind):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = current()
    name = next(n for n, s in now["samples"].items() if s["kind"] == kind)
    now["samples"][name]["records"][0]["state"] += "_CHANGED"  # what a parser change would do

    assert check(now, golden) == ([kind], [])
    now["versions"][kind] += 1
    assert check(now, golden) == ([], [kind])

"""fakecloud's bodies have the vendors' shapes: the seed samples' keys and value types, and only
fields that the official SDK models document, each with the documented type."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import huaweicloudsdkmetastudio.v1.model as hw_models

from tests.fixtures_fakecloud import avatar_path, cos_request, huawei_request, voice_path

SEEDS = Path(__file__).parent / "data" / "seeds"  # copies of the vendor pages (see README.md there)


def _seed(prefix):
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def _avatar_sample():
    text = _seed("002")
    start = text.index("{", text.index("Example Responses"))
    sample, _ = json.JSONDecoder().raw_decode(text[start:])
    return sample


def _ci_sample():
    text = _seed("004")
    blocks = re.findall(r"<Response>.*?</Response>", text, flags=re.S)
    block = next(b for b in blocks if "<JobId>" in b)
    return ET.fromstring(block.replace("<Tag>Translation<Tag>", "<Tag>Translation</Tag>"))


def _types(item):
    return {key: type(value) for key, value in item.items()}


def test_it_lists_avatar_jobs_with_the_sample_keys_and_types(fakecloud):
    sample = _avatar_sample()
    ours = huawei_request(fakecloud, "GET", avatar_path(), [("limit", 100)]).json()
    assert _types(ours) == _types(sample)
    always = set.intersection(*(set(job) for job in sample["jobs"]))
    sometimes = set.union(*(set(job) for job in sample["jobs"]))
    sample_types = {}
    for job in sample["jobs"]:
        sample_types.update(_types(job))
    for job in ours["jobs"]:
        assert always <= set(job), always - set(job)
        for key in sometimes & set(job):
            assert type(job[key]) is sample_types[key], key
    for key in sometimes:
        assert any(key in job for job in ours["jobs"]), key


def _children(element, prefix=""):
    """{path: "leaf" | "container"} for every descendant."""
    out = {}
    for child in element:
        path = f"{prefix}/{child.tag}"
        out[path] = "container" if len(child) else "leaf"
        out.update(_children(child, path))
    return out


def test_it_lists_ci_jobs_with_the_sample_nodes(fakecloud):
    sample = _ci_sample()
    response = cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation", "size": "100"})
    ours = ET.fromstring(response.content)
    assert ours.tag == sample.tag == "Response"
    assert {c.tag for c in sample} <= {c.tag for c in ours}
    wanted = _children(sample.find("JobsDetail"))
    for detail in ours.findall("JobsDetail"):
        shape = _children(detail)
        for path, kind in wanted.items():
            assert shape.get(path) == kind, path


def test_it_dates_ci_jobs_like_the_sample(fakecloud):
    sample = _ci_sample().find("JobsDetail")
    response = cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation", "size": "100"})
    details = ET.fromstring(response.content).findall("JobsDetail")
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0800$")
    assert pattern.match(sample.findtext("CreationTime"))
    for detail in details:
        assert pattern.match(detail.findtext("CreationTime"))
        for node in ("StartTime", "EndTime"):
            value = detail.findtext(node) or ""
            assert value in ("", "-") or pattern.match(value)
    submitted = [d for d in details if d.findtext("State") == "Submitted"]
    assert all(d.findtext("StartTime") in ("", "-") for d in submitted)


# --- against the SDK models ---------------------------------------------------------------

_SCALARS = {"str": str, "int": int, "bool": bool, "float": float, "object": object}


def _expected_type(type_name):
    if type_name in _SCALARS:
        return _SCALARS[type_name]
    if type_name.startswith("list["):
        return list
    if type_name.startswith("dict("):
        return dict
    model = getattr(hw_models, type_name)
    return str if not model.openapi_types else dict  # generated enums have no fields


def _assert_documented(payload, model_name):
    model = getattr(hw_models, model_name)
    wire_to_attr = {wire: attr for attr, wire in model.attribute_map.items()}
    for key, value in payload.items():
        assert key in wire_to_attr, f"{model_name} has no field {key}"
        type_name = model.openapi_types[wire_to_attr[key]]
        assert isinstance(value, _expected_type(type_name)), (model_name, key, type_name)
        if isinstance(value, dict) and type_name in dir(hw_models):
            _assert_documented(value, type_name)
        if isinstance(value, list) and type_name.startswith("list[") and value:
            inner = type_name[5:-1]
            if getattr(hw_models, inner, None) is not None and getattr(hw_models, inner).openapi_types:
                for element in value:
                    _assert_documented(element, inner)


def test_it_sends_only_documented_avatar_fields(fakecloud):
    page = huawei_request(fakecloud, "GET", avatar_path(), [("limit", 100)]).json()
    for job in page["jobs"]:
        _assert_documented(job, "TrainingJobBasicInfo")
        detail = huawei_request(fakecloud, "GET", f"{avatar_path()}/{job['job_id']}").json()
        _assert_documented(detail, "Show2dModelTrainingJobResponse")


def test_it_sends_only_documented_voice_fields(fakecloud):
    page = huawei_request(fakecloud, "GET", voice_path(), [("limit", 100)]).json()
    assert any("assess_result" in job for job in page["jobs"])
    for job in page["jobs"]:
        _assert_documented(job, "TrainingJobInfo")
        assert job["create_time"] > 10**12  # epoch milliseconds
        logs = huawei_request(fakecloud, "GET", f"{voice_path()}/{job['job_id']}/op-logs", [("limit", 100)]).json()
        _assert_documented(logs, "ListJobOperationLogResponse")
        audit = huawei_request(fakecloud, "GET", f"{voice_path()}/{job['job_id']}/audit-result").json()
        _assert_documented(audit, "ShowJobAuditResultResponse")


def test_it_sends_only_documented_short_job_fields(fakecloud):
    for job_id in fakecloud.short_job_ids():
        job = huawei_request(fakecloud, "GET", f"/voice-training-manage/user/short-jobs/{job_id}").json()
        _assert_documented(job, "ShowShortJobResponse")


def test_it_dates_avatar_jobs_in_rfc3339_and_their_logs_too(fakecloud):
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    page = huawei_request(fakecloud, "GET", avatar_path(), [("limit", 100)]).json()
    for job in page["jobs"]:
        assert pattern.match(job["create_time"]) and pattern.match(job["last_update_time"])
        detail = huawei_request(fakecloud, "GET", f"{avatar_path()}/{job['job_id']}").json()
        for log in detail["operation_logs"] + detail["comment_logs"]:
            assert pattern.match(log["operate_time"])

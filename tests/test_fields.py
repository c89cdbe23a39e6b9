"""jobs.providers.fields: stripping PII keys from vendor JSON, by copy and in place."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.providers import fields, huawei

DROPPED = {"contact", "phone", "cover_download_url"}
KEYS = st.sampled_from(["job_id", "name", "contact", "phone", "cover_download_url", "tags", "a", "日本"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=30
)


def drop(key):
    return key in DROPPED


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_the_in_place_stripper_removes_exactly_what_the_copying_one_does(data):
    expected = fields.strip_keys(data, drop)
    owned = copy.deepcopy(data)

    result = fields.KeyStripper(drop)(owned)

    assert result == expected
    if isinstance(owned, dict | list):
        assert result is owned  # changed in place, not copied


def test_the_stripper_remembers_decisions_and_still_strips_past_its_memory(monkeypatch):
    calls = []

    def counted(key):
        calls.append(key)
        return key == "contact"

    stripper = fields.KeyStripper(counted)
    monkeypatch.setattr(stripper, "MAX_KEYS", 3)
    first = stripper({"contact": 1, "a": 2, "b": {"contact": 3}})
    assert first == {"a": 2, "b": {}}
    assert sorted(calls) == ["a", "b", "contact"]  # each key decided once

    calls.clear()
    # Memory full: new keys are decided every time, and still stripped.
    assert stripper({"a": 1, "x_contact": 2, "contact": 3}) == {"a": 1, "x_contact": 2}
    assert stripper({"c": [{"contact": 1, "d": 2}]}) == {"c": [{"d": 2}]}
    assert calls == ["x_contact", "c", "d"]


def test_the_stripper_copies_containers_it_cannot_change_in_place():
    stripper = fields.KeyStripper(drop)
    inner = ({"contact": 1, "a": 2},)
    data = {"t": inner, "l": [({"phone": 3},)]}

    assert stripper(data) == {"t": [{"a": 2}], "l": [[{}]]}
    assert inner == ({"contact": 1, "a": 2},)  # the tuple's dict was copied, not changed
    assert stripper(("x", {"contact": 1})) == ["x", {}]


@pytest.mark.parametrize(
    "item",
    [
        {
            "job_id": "j1",
            "contact": "13800000000",
            "cover_download_url": "https://x?Signature=s",
            "nested": {"phone": "1", "keep": [{"voice_authorization_url": "u", "k": 1}]},
        },
        {"job_id": "j2", "tags": ["a"], "model_upload_url": "https://y"},
    ],
)
def test_a_listed_metastudio_job_is_stripped_like_a_record_payload(item):
    expected = huawei.strip_payload(item)

    listed = huawei.listed_avatar(copy.deepcopy(item))

    assert listed.payload == expected
    assert "contact" not in str(listed.payload) and "_url" not in str(listed.payload)

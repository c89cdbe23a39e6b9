"""jobs.sync.rows: the one table of Job columns, and the rows and records derived from it."""

import dataclasses
from datetime import timedelta

from jobs.models import Job
from jobs.providers.base import JobRecord
from jobs.sync import rows
from tests.fixtures_sync import T0, make_record


def test_the_table_names_every_job_column_once():
    names = [c.name for c in rows.COLUMNS]
    model = [f.attname for f in Job._meta.concrete_fields if not f.primary_key]

    assert len(names) == len(set(names))
    assert sorted(names) == sorted(model)  # a new model field must be placed in the table


def test_record_columns_are_job_record_fields_and_sticky_ones_are_filled_by_details():
    record_fields = {f.name for f in dataclasses.fields(JobRecord)}

    assert set(rows.RECORD_FIELDS) <= record_fields
    assert set(rows.STICKY_FIELDS) <= set(rows.DETAIL_FIELDS)
    assert "first_seen_at" not in rows.UPSERT_FIELDS and "name" in rows.UPSERT_FIELDS


def test_a_record_survives_a_row_and_the_job_made_from_it():
    rec = dataclasses.replace(
        make_record(n=4),
        language="zh",
        linked_job_id="v-1",
        error_code="E1",
        error_message="boom",
        started_at=T0,
        finished_at=T0 + timedelta(hours=2),
    )

    row = rows.row_from_record(7, rec, "fp", rec.payload, T0 + timedelta(days=1), kind_has_detail=True)
    again = rows.record_from_job(Job(**row))

    assert again == rec and again.payload == rec.payload
    assert (row["account_id"], row["status"], row["tags_text"], row["needs_detail"]) == (
        7,
        "running",
        "|demo|t0|",
        True,
    )
    assert row["state_changed_at"] == rec.updated_at  # first seen mid-state: the vendor's last update


def test_text_is_cut_to_the_model_field_length():
    rec = make_record(name="n" * 600, batch="b" * 300, error_message="m" * 5000)

    row = rows.row_from_record(1, rec, "fp", {}, T0, kind_has_detail=False)

    assert (len(row["name"]), len(row["batch"]), len(row["error_message"])) == (512, 255, 5000)


def test_a_detail_fills_in_what_it_has_and_merges_its_payload():
    job = Job(**rows.row_from_record(1, make_record(), "fp", {"a": 1, "b": 1}, T0, kind_has_detail=True))
    detail = dataclasses.replace(
        make_record(), name="", edition="V4", tags=("x",), error_message="failed: code 137", payload={"b": 2}
    )

    updates = rows.detail_updates(job, detail)

    assert updates == {
        "edition": "V4",
        "error_message": "failed: code 137",
        "tags": ["x"],
        "tags_text": "|x|",
        "payload": {"a": 1, "b": 2},
    }

"""fakecloud: a local simulator of Huawei Cloud MetaStudio and Tencent Cloud CI.

One server, one port, both clouds (think moto): MetaStudio under `/v1/{project_id}/...`, CI on
`/ai_jobs` and `/jobs`, and a control API under `/_fakecloud/`. Start it with
`python -m fakecloud --port 8765`, or in tests with `fakecloud.testing.FakeCloudServer`.
It imports nothing from the dashboard: it is its own product and verifies signatures itself.
"""

"""fakecloud fixtures (see tests/conftest.py).

- `fakecloud`: a fresh FakeCloudServer per test: 30 jobs per kind (so the fixed XSS names at
  indices 3 and 11 are there), seed 1, speed 0 (the virtual clock moves only with
  `fakecloud.advance(seconds)`), demo credentials. Faults, counters, added or removed jobs never
  leak into another test.
- `fakecloud_session`: one FakeCloudServer for the whole session: 200 jobs per kind, seed 2,
  speed 0. Cheaper, but shared: a test that changes it (faults, clock, jobs) must undo what it
  did, or use `fakecloud` instead. Counters are reset before each test that asks for it.

Both yield a `fakecloud.testing.FakeCloudServer`: `.url`, `.huawei` (ak, sk, project_id,
token, region), `.tencent` (secret_id, secret_key, bucket, queue_id, region, token),
`.advance()`, `.set_fault()`, `.clear_faults()`, `.counters()`, `.reset_counters()`,
`.add_job()`, `.remove_job()`, `.set_state()`, `.short_job_ids()`, `.jobs(kind)`, `.job(kind, id)`.
"""

import pytest

from fakecloud.testing import FakeCloudServer


@pytest.fixture
def fakecloud():
    with FakeCloudServer(jobs=30, seed=1, speed=0) as server:
        yield server


@pytest.fixture(scope="session")
def _fakecloud_session_server():
    with FakeCloudServer(jobs=200, seed=2, speed=0) as server:
        yield server


@pytest.fixture
def fakecloud_session(_fakecloud_session_server):
    _fakecloud_session_server.reset_counters()
    yield _fakecloud_session_server
    _fakecloud_session_server.clear_faults()

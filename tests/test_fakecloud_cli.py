"""`python -m fakecloud` as a process: its one line, its flags, credentials from the environment."""

import subprocess
import sys

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import List2dModelTrainingJobRequest

from fakecloud.testing import FakeCloudProcess
from tests.fixtures_fakecloud import cos_client, metastudio_client


def test_it_serves_both_clouds_from_a_process_with_secrets_from_the_environment():
    secret = "ENVSECRET0000000000000000000000000000000"
    with FakeCloudProcess(jobs=40, seed=3, huawei_sk=secret, tencent_bucket="env-1300000000") as fc:
        page = metastudio_client(fc).list2d_model_training_job(List2dModelTrainingJobRequest(limit=100))
        with pytest.raises(ClientRequestException) as caught:
            metastudio_client(fc, sk="FAKESKDEMO00000000000000000000000000000000").list2d_model_training_job(
                List2dModelTrainingJobRequest(limit=1)
            )
        listed = cos_client(fc).ci_list_media_jobs(
            Bucket="env-1300000000", Tag="Translation", Path="/ai_jobs", Size=100
        )
        counters = fc.counters()
    assert page.count == 40 and len(page.jobs) == 40
    assert caught.value.status_code == 401
    assert len(listed["JobsDetail"]) == 40
    assert counters["avatar.list"] == 2 and counters["ci.list"] == 1


def test_it_takes_faults_from_the_command_line():
    args = ["--fault", "error:op=avatar.list,count=1,status=503"]
    with FakeCloudProcess(jobs=5, extra_args=args) as fc:
        client = metastudio_client(fc)
        with pytest.raises(Exception) as caught:
            client.list2d_model_training_job(List2dModelTrainingJobRequest(limit=1))
        second = client.list2d_model_training_job(List2dModelTrainingJobRequest(limit=1))
        fired = fc.faults()[0]["fired"]
    assert getattr(caught.value, "status_code", None) == 503
    assert second.count == 5 and fired == 1


def test_it_prints_one_line_with_its_url():
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakecloud", "--port", "0", "--jobs", "3", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert line.startswith("fakecloud listening on http://127.0.0.1:")
    assert "SECRET" not in line.upper() and "SK" not in line


def test_it_explains_its_flags():
    result = subprocess.run([sys.executable, "-m", "fakecloud", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for flag in (
        "--huawei-ak",
        "--huawei-sk",
        "--huawei-project-id",
        "--huawei-token",
        "--tencent-secret-id",
        "--tencent-secret-key",
        "--tencent-bucket",
        "--tencent-queue-id",
        "--speed",
        "--fault",
    ):
        assert flag in result.stdout

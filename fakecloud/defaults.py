"""Demo credentials and settings of fakecloud, in one place.

These values are fake and public on purpose: the demo, the README and the tests use them. Every
one can be replaced by a command-line flag or by an environment variable (see ENV_VARS), so a
user who wants other values never needs to put a real-looking secret in argv.
"""

HUAWEI_AK = "FAKEAKDEMO0000000000"
HUAWEI_SK = "FAKESKDEMO00000000000000000000000000000000"
HUAWEI_PROJECT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
HUAWEI_REGION = "cn-north-4"
HUAWEI_TOKEN = ""  # empty: no static X-Auth-Token (tokens issued by /v3/auth/tokens still work)
HUAWEI_IAM_DOMAIN = "demo-domain"  # the IAM user's account (domain) name
HUAWEI_IAM_USER = "demo-ops"
HUAWEI_IAM_PASSWORD = "FakeDemoIamPassw0rd!"

TENCENT_SECRET_ID = "AKIDFAKEDEMO0000000000000000000000000"
TENCENT_SECRET_KEY = "FAKEDEMOSECRETKEY000000000000000"
TENCENT_BUCKET = "demo-1250000000"
TENCENT_REGION = "ap-guangzhou"
TENCENT_QUEUE_ID = "p0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TENCENT_TOKEN = ""  # empty: no temporary-credential token is required

HOST = "127.0.0.1"
PORT = 8765
JOBS = 300
SEED = 7
SPEED = 1.0

# flag name -> environment variable read when the flag is not given
ENV_VARS = {
    "huawei_ak": "FAKECLOUD_HUAWEI_AK",
    "huawei_sk": "FAKECLOUD_HUAWEI_SK",
    "huawei_project_id": "FAKECLOUD_HUAWEI_PROJECT_ID",
    "huawei_region": "FAKECLOUD_HUAWEI_REGION",
    "huawei_token": "FAKECLOUD_HUAWEI_TOKEN",
    "huawei_iam_domain": "FAKECLOUD_HUAWEI_IAM_DOMAIN",
    "huawei_iam_user": "FAKECLOUD_HUAWEI_IAM_USER",
    "huawei_iam_password": "FAKECLOUD_HUAWEI_IAM_PASSWORD",
    "tencent_secret_id": "FAKECLOUD_TENCENT_SECRET_ID",
    "tencent_secret_key": "FAKECLOUD_TENCENT_SECRET_KEY",
    "tencent_bucket": "FAKECLOUD_TENCENT_BUCKET",
    "tencent_region": "FAKECLOUD_TENCENT_REGION",
    "tencent_queue_id": "FAKECLOUD_TENCENT_QUEUE_ID",
    "tencent_token": "FAKECLOUD_TENCENT_TOKEN",
}

DEFAULTS = {
    "huawei_ak": HUAWEI_AK,
    "huawei_sk": HUAWEI_SK,
    "huawei_project_id": HUAWEI_PROJECT_ID,
    "huawei_region": HUAWEI_REGION,
    "huawei_token": HUAWEI_TOKEN,
    "huawei_iam_domain": HUAWEI_IAM_DOMAIN,
    "huawei_iam_user": HUAWEI_IAM_USER,
    "huawei_iam_password": HUAWEI_IAM_PASSWORD,
    "tencent_secret_id": TENCENT_SECRET_ID,
    "tencent_secret_key": TENCENT_SECRET_KEY,
    "tencent_bucket": TENCENT_BUCKET,
    "tencent_region": TENCENT_REGION,
    "tencent_queue_id": TENCENT_QUEUE_ID,
    "tencent_token": TENCENT_TOKEN,
}

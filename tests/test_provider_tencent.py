"""jobs.providers.tencent: parsing of the documented XML, and the client over real HTTP
(a loopback stand-in for CI that checks every signature with qcloud_cos's CosS3Auth)."""

from datetime import UTC, datetime
from pathlib import Path
from unittest import mock
from xml.sax.saxutils import escape

import pytest
import requests
from qcloud_cos import CosConfig, cos_auth
from qcloud_cos.cos_auth import CosS3Auth

from jobs.models import CloudAccount
from jobs.providers import get_provider, tencent
from jobs.providers.base import TRANSLATION, AuthError, ConfigError, ResponseError, TransportError
from jobs.providers.tencent import TencentProvider
from jobs.providers.times import parse_offset_time
from tests.http_stub import Reply, StubServer

SEEDS = Path(__file__).parent / "data" / "seeds"  # copies of the vendor pages (see README.md there)
SECRET_ID, SECRET_KEY = "AKIDTEST0001", "tencent-secret-key-0000000000"
BUCKET = "examplebucket-1250000000"


def seed_xml(mend=True) -> bytes:
    """The DescribeMediaJobs sample response of seed 004, with `<Tag>Translation<Tag>` mended."""
    text = (SEEDS / "004_02c3a03826293130.txt").read_text()
    sample = text[text.index("x-ci-request-id:") :]  # the sample response, after its headers
    xml = sample[sample.index("<Response>") : sample.index("</Response>") + len("</Response>")]
    if mend:
        xml = xml.replace("<Tag>Translation<Tag>", "<Tag>Translation</Tag>")
    return xml.encode()


def records_of(xml: bytes):
    root = tencent.parse_xml(xml)
    return [tencent.translation_record(tencent.element_to_dict_checked(e)) for e in root if e.tag == "JobsDetail"]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- parsing ---------------------------------------------------------------------------------


def test_it_parses_the_documented_job_list_sample():
    records = records_of(seed_xml())

    assert [r.remote_id for r in records] == ["aabcxxxxfeipplsdfwe", "aabcxxxxfeipplsdfwe"]  # sic: same id twice
    first, second = records
    assert (first.kind, first.name, first.state) == (TRANSLATION, "test.txt", "Submitted")
    assert (first.language, second.language) == ("zh→en", "en→zh")
    assert first.edition == "txt→txt"
    assert first.created_at == utc(2019, 7, 7, 4, 12, 12)
    assert (first.started_at, first.finished_at) == (None, None)  # empty elements
    assert first.updated_at == first.created_at
    assert (first.error_code, first.error_message) == ("", "")  # "Success" on a job that did not fail
    assert first.payload["Operation"]["Output"]["Object"] == "test-result.txt"
    assert first.payload["QueueId"] == "p893bcda225bf4945a378da6662e81a89"


def test_it_refuses_the_unmended_sample():
    with pytest.raises(ResponseError, match="malformed XML"):
        tencent.parse_xml(seed_xml(mend=False), "DescribeMediaJobs")


def test_it_refuses_xml_with_entities():
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Response>&b;</Response>'

    with pytest.raises(ResponseError, match="forbidden construct"):
        tencent.parse_xml(bomb, "DescribeMediaJobs")


def job_xml(
    job_id="j1",
    state="Success",
    code="Success",
    message="",
    start="-",
    end="-",
    created="2022-07-25T16:35:39+0800",
    obj="doc.pdf",
):
    return (
        f"<JobsDetail><Code>{code}</Code><Message>{message}</Message><JobId>{job_id}</JobId>"
        f"<State>{state}</State><CreationTime>{created}</CreationTime><StartTime>{start}</StartTime>"
        f"<EndTime>{end}</EndTime><QueueId>q1</QueueId><Tag>Translation</Tag>"
        f"<Input><Object>{escape(obj)}</Object><Lang>en</Lang><Type>pdf</Type></Input>"
        "<Operation><Translation><Lang>ja</Lang><Type>docx</Type></Translation></Operation></JobsDetail>"
    )


def test_it_reads_failure_code_and_times_of_a_failed_job():
    detail = job_xml(
        state="Failed",
        code="1011",
        message="InvalidContent",
        start="2022-07-25T16:35:40+0800",
        end="2022-07-25T16:36:00+0800",
    )

    [record] = records_of(f"<Response>{detail}</Response>".encode())

    assert (record.error_code, record.error_message) == ("1011", "InvalidContent")
    assert record.started_at == utc(2022, 7, 25, 8, 35, 40)
    assert record.finished_at == record.updated_at == utc(2022, 7, 25, 8, 36)
    assert (record.edition, record.language) == ("pdf→docx", "en→ja")


def test_it_reads_dash_and_empty_times_as_unset():
    assert parse_offset_time("-") is None
    assert parse_offset_time("") is None
    assert parse_offset_time("2019-07-07T12:12:12+0800") == utc(2019, 7, 7, 4, 12, 12)
    assert parse_offset_time("2019-07-07T12:12:12+08:00") == utc(2019, 7, 7, 4, 12, 12)


def test_it_refuses_xml_nested_deeper_than_the_bound_even_at_a_leaf():
    at_limit = tencent.parse_xml(("<a>" * 33 + "x" + "</a>" * 33).encode())
    too_deep = tencent.parse_xml(("<a>" * 34 + "x" + "</a>" * 34).encode())

    assert tencent.element_to_dict(at_limit) == {"a": {"a": {"a": {"a": mock.ANY}}}}
    with pytest.raises(ResponseError, match="nested too deeply"):
        tencent.element_to_dict_checked(too_deep)


def test_it_keeps_unknown_states_and_odd_names():
    detail = job_xml(state="Archived", obj='<b>"报告",v2.pdf')
    [record] = records_of(f"<Response>{detail}</Response>".encode())

    assert record.state == "Archived"
    assert record.name == '<b>"报告",v2.pdf'


@pytest.mark.parametrize(
    "detail, reason",
    [
        ("<JobsDetail><State>Success</State></JobsDetail>", "JobId: missing"),
        ("<JobsDetail><JobId>j</JobId><CreationTime>yesterday</CreationTime></JobsDetail>", "CreationTime"),
        ("<JobsDetail><JobId>j</JobId><Input>text</Input></JobsDetail>", "Input: expected an object"),
        ("<JobsDetail><JobId>j</JobId><State>a</State><State>b</State></JobsDetail>", "State: expected a string"),
        ("<JobsDetail/>", "empty element"),
    ],
)
def test_it_rejects_a_malformed_job_with_a_readable_reason(detail, reason):
    with pytest.raises(ResponseError, match=reason):
        records_of(f"<Response>{detail}</Response>".encode())


def test_it_reads_ci_error_bodies_without_resource():
    body = (
        b"<?xml version='1.0' encoding='utf-8' ?><Error><Code>InvalidAuthorization</Code>"
        b"<Message>signature mismatch</Message><RequestId>body-rid</RequestId><TraceId>t</TraceId></Error>"
    )

    info = tencent.parse_error(403, {"x-ci-request-id": "hdr-rid"}, body)

    assert (info.code, info.message, info.request_id, info.error_class) == (
        "InvalidAuthorization",
        "signature mismatch",
        "body-rid",
        AuthError,
    )
    assert tencent.parse_error(503, {"x-ci-request-id": "hdr"}, b"<Error><Code>SlowDown</Code></Error>") == (
        tencent.VendorError("SlowDown", "", "hdr", TransportError, throttled=True)
    )
    assert tencent.parse_error(400, {}, b'{"code": "InvalidArgument", "message": "m", "request_id": "j"}').code == (
        "InvalidArgument"
    )


# --- endpoints and configuration -------------------------------------------------------------


def test_it_builds_the_bucket_endpoint():
    provider = TencentProvider(region="ap-guangzhou", bucket=BUCKET, secret_id=SECRET_ID, secret_key=SECRET_KEY)

    assert provider.base_url == f"https://{BUCKET}.ci.ap-guangzhou.myqcloud.com"


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"bucket": "examplebucket"}, "bucket"),
        ({"bucket": "evil.com/x-125"}, "bucket"),
        ({"region": "ap-guangzhou.evil.com"}, "region"),
        ({"list_path": "/other"}, "list path"),
        ({"queue_id": "q&x=1"}, "queue id"),
        ({"secret_key": ""}, "SecretKey"),
        ({"endpoint": "https://h/path"}, "endpoint"),
    ],
)
def test_it_refuses_settings_that_cannot_work(kwargs, needle):
    options = {"region": "ap-guangzhou", "bucket": BUCKET, "secret_id": SECRET_ID, "secret_key": SECRET_KEY, **kwargs}

    with pytest.raises(ConfigError, match=needle):
        TencentProvider(**options)


def test_get_provider_builds_a_tencent_client_from_an_account():
    account = CloudAccount(
        name="tc",
        provider="tencent",
        region="ap-beijing",
        bucket=BUCKET,
        queue_id="q1",
        list_path="/jobs",
        access_key_id=SECRET_ID,
    )
    account.set_secret_key(SECRET_KEY)
    account.set_token("sts-token")

    provider = get_provider(account)

    assert isinstance(provider, TencentProvider)
    assert (provider.list_path, provider.queue_id, provider.host) == (
        "/jobs",
        "q1",
        f"{BUCKET}.ci.ap-beijing.myqcloud.com",
    )
    assert SECRET_KEY not in repr(provider)


# --- over HTTP -------------------------------------------------------------------------------


class FakeCI:
    """Enough CI for the client: NextToken paging with the `states` and `orderByTime` filters,
    job detail of one or several ids (NonExistJobIds), <Error> bodies; every signature
    recomputed with the SDK's CosS3Auth and compared."""

    def __init__(self, jobs=(), token=None, pages=None, states=None):
        self.jobs = list(jobs)  # ids, oldest first
        self.token = token
        self.pages = pages  # explicit list of (job ids, next token) replies, in order
        self.states = states or {}  # id -> State ("Success" unless given)

    def state(self, job_id):
        return self.states.get(job_id, "Success")

    def listed(self, params):
        wanted = set(params["states"].split(",")) if params.get("states", "All") != "All" else None
        ids = [i for i in self.jobs if wanted is None or self.state(i) in wanted]
        return ids[::-1] if params.get("orderByTime", "Desc") == "Desc" else ids

    def verify(self, request):
        authorization = request.header("Authorization") or ""
        fields = dict(part.split("=", 1) for part in authorization.split("&") if "=" in part)
        start = int(fields.get("q-sign-time", "0;0").split(";")[0])
        sent = {"x-ci-security-token": request.header("x-ci-security-token")} if self.token else {}
        if self.token and sent["x-ci-security-token"] != self.token:
            return False
        config = CosConfig(Region="ap-guangzhou", SecretId=SECRET_ID, SecretKey=SECRET_KEY)
        prepared = requests.Request(
            "GET", "http://" + request.header("Host") + request.raw_path, headers=sent
        ).prepare()
        with mock.patch.object(cos_auth.time, "time", return_value=start + 60):
            CosS3Auth(config, key=request.path, params=request.params)(prepared)
        return prepared.headers["Authorization"] == authorization

    def __call__(self, request):
        if not self.verify(request):
            return Reply(
                403,
                "<Error><Code>InvalidAuthorization</Code><Message>bad sign</Message>"
                "<RequestId>rid-403</RequestId></Error>",
                {"x-ci-request-id": "rid-403"},
            )
        if request.path in ("/ai_jobs", "/jobs"):
            if self.pages is not None:
                ids, token = self.pages.pop(0)
            else:
                listed = self.listed(request.params)
                start = int(request.params.get("nextToken") or 0)
                size = int(request.params["size"])
                ids = listed[start : start + size]
                token = str(start + size) if start + size < len(listed) else ""
            body = "".join(job_xml(job_id=i, state=self.state(i)) for i in ids) + f"<NextToken>{token}</NextToken>"
            return Reply(200, f"<Response>{body}</Response>", {"x-ci-request-id": f"rid-{len(ids)}"})
        ids = request.path.rsplit("/", 1)[-1].split(",")  # /jobs/<id>,<id>… (§4)
        found = "".join(job_xml(job_id=i, state=self.state(i)) for i in ids if i in self.jobs)
        missing = "".join(f"<NonExistJobIds>{i}</NonExistJobIds>" for i in ids if i not in self.jobs)
        return Reply(200, f"<Response>{found}{missing}</Response>", {"x-ci-request-id": "rid-detail"})


@pytest.fixture
def ci():
    servers = []

    def start(fake, **provider_kwargs):
        server = StubServer(fake).__enter__()
        servers.append(server)
        options = {
            "region": "ap-guangzhou",
            "bucket": BUCKET,
            "secret_id": SECRET_ID,
            "secret_key": SECRET_KEY,
            "endpoint": server.url,
            "http_options": {"sleep": lambda s: None},
            **provider_kwargs,
        }
        return server, TencentProvider(**options)

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_it_follows_next_token_to_the_end(ci):
    server, provider = ci(FakeCI(jobs=[f"j{i:03d}" for i in range(230)]), queue_id="p893")

    pages = list(provider.iter_pages(TRANSLATION))

    ids = [r.remote_id for page in pages for r in page.records]
    assert ids == [f"j{i:03d}" for i in range(230)]
    assert [p.next_cursor for p in pages] == ["100", "200", None]
    assert [r.params for r in server.requests] == [
        {"tag": "Translation", "size": "100", "orderByTime": "Asc", "nextToken": token, "queueId": "p893"}
        for token in ("", "100", "200")
    ]
    assert server.requests[0].path == "/ai_jobs"
    assert provider.api_calls == 3


def test_it_lists_on_the_configured_path(ci):
    server, provider = ci(FakeCI(jobs=["a"]), list_path="/jobs")

    list(provider.iter_pages(TRANSLATION))

    assert server.requests[0].path == "/jobs"
    assert "queueId" not in server.requests[0].params


def test_it_signs_host_and_every_param(ci):
    server, provider = ci(FakeCI(jobs=["a"]))

    list(provider.iter_pages(TRANSLATION))

    authorization = server.requests[0].header("Authorization")
    assert "&q-header-list=host&" in authorization
    assert "&q-url-param-list=nexttoken;orderbytime;size;tag&" in authorization
    assert server.requests[0].header("Host") == server.url.removeprefix("http://")


def test_it_sends_and_signs_the_temporary_credential_token(ci):
    server, provider = ci(FakeCI(jobs=["a"], token="sts-token-1"), token="sts-token-1")

    records = [r for page in provider.iter_pages(TRANSLATION) for r in page.records]

    assert len(records) == 1
    assert server.requests[0].header("x-ci-security-token") == "sts-token-1"
    assert "q-header-list=host;x-ci-security-token&" in server.requests[0].header("Authorization")


def test_it_stops_when_a_next_token_repeats(ci):
    server, provider = ci(FakeCI(pages=[(["a"], "t1"), (["b"], "t2"), (["c"], "t1")]))

    with pytest.raises(ResponseError, match="NextToken 't1' repeated"):
        list(provider.iter_pages(TRANSLATION))

    assert len(server.requests) == 3


def test_it_follows_a_few_empty_pages_but_not_forever(ci):
    pages = [(["a"], "t1")] + [([], f"e{i}") for i in range(10)]
    server, provider = ci(FakeCI(pages=pages))

    with pytest.raises(ResponseError, match="empty pages in a row"):
        list(provider.iter_pages(TRANSLATION))

    assert len(server.requests) == 4  # one page of jobs, then three empty ones


def test_it_ends_cleanly_on_an_empty_last_page(ci):
    _, provider = ci(FakeCI(pages=[(["a"], "t1"), ([], "t2"), (["b"], "")]))

    ids = [r.remote_id for page in provider.iter_pages(TRANSLATION) for r in page.records]

    assert ids == ["a", "b"]


def test_it_gets_one_job_and_none_for_unknown_ids(ci):
    server, provider = ci(FakeCI(jobs=["j1"]))

    assert provider.get_job(TRANSLATION, "j1").remote_id == "j1"
    assert provider.get_job(TRANSLATION, "zz") is None
    assert [r.path for r in server.requests] == ["/ai_jobs/j1", "/ai_jobs/zz"]


def test_it_needs_no_call_for_the_detail_of_a_translation_job(ci):
    server, provider = ci(FakeCI(jobs=["j1"]))
    record = provider.get_job(TRANSLATION, "j1")

    detail = provider.fetch_detail(record)

    assert (detail.record, detail.events) == (record, [])
    assert len(server.requests) == 1


def test_it_raises_auth_error_for_a_wrong_secret_without_retrying(ci):
    server, provider = ci(FakeCI(jobs=["j1"]), secret_key="wrong-secret-key-00000")

    with pytest.raises(AuthError) as caught:
        provider.check_connection()

    assert (caught.value.code, caught.value.request_id, caught.value.status) == ("InvalidAuthorization", "rid-403", 403)
    assert len(server.requests) == 1
    assert provider.api_calls == 1
    assert "wrong-secret" not in str(caught.value)


def test_it_retries_slow_down_and_signs_again(ci):
    fake = FakeCI(jobs=["j1"])
    replies = [Reply(503, "<Error><Code>SlowDown</Code></Error>", {"Retry-After": "1"})]
    server, provider = ci(lambda request: replies.pop(0) if replies else fake(request))

    assert provider.check_connection().startswith(f"CI {BUCKET}")
    assert provider.api_calls == 2
    assert server.requests[1].params["size"] == "1"


def test_it_reports_a_non_response_document(ci):
    _, provider = ci(lambda request: Reply(200, "<Other/>"))

    with pytest.raises(ResponseError, match="expected a <Response> document"):
        list(provider.iter_pages(TRANSLATION))


# --- filtered and newest-first listings, reads by id, tenant facts ---------------------------


def test_it_sends_the_states_filter_and_newest_first_order_in_the_signed_query(ci):
    fake = FakeCI(jobs=["j1", "j2", "j3"], states={"j1": "Running", "j3": "Submitted"})
    server, provider = ci(fake)

    pages = list(provider.iter_pages(TRANSLATION, states={"Submitted", "Running", "Pause"}, newest_first=True))

    assert [r.remote_id for page in pages for r in page.records] == ["j3", "j1"]
    [request] = server.requests  # signed as sent: the fake recomputes the signature with CosS3Auth
    assert request.params == {
        "tag": "Translation",
        "size": "100",
        "orderByTime": "Desc",
        "nextToken": "",
        "states": "Pause,Running,Submitted",
    }
    assert "states=Pause%2CRunning%2CSubmitted" in request.raw_path  # one value, comma encoded
    assert "&q-url-param-list=nexttoken;orderbytime;size;states;tag&" in request.header("Authorization")


def test_it_pages_a_filtered_listing_sending_the_filter_with_every_page(ci):
    jobs = [f"j{i:03d}" for i in range(230)]
    fake = FakeCI(jobs=jobs, states=dict.fromkeys(jobs[::3], "Running"))
    server, provider = ci(fake, page_size=30)

    pages = list(provider.iter_pages(TRANSLATION, states=["Running"]))

    assert [r.remote_id for page in pages for r in page.records] == jobs[::3]  # 77, oldest first
    assert [p.next_cursor for p in pages] == ["30", "60", None]
    assert all(p.total is None for p in pages)  # CI gives no count
    assert [(r.params["states"], r.params["orderByTime"]) for r in server.requests] == [("Running", "Asc")] * 3


def test_an_empty_state_filter_lists_nothing_without_a_call(ci):
    server, provider = ci(FakeCI(jobs=["j1"]))

    pages = list(provider.iter_pages(TRANSLATION, states=set(), fetch_ahead=False))

    assert [(p.records, p.total, p.next_cursor) for p in pages] == [([], 0, None)]
    assert server.requests == [] and provider.api_calls == 0


def test_it_reads_several_jobs_in_one_request_and_none_for_the_missing_ones(ci):
    server, provider = ci(FakeCI(jobs=["j1", "j2"], states={"j2": "Running"}))

    found = provider.get_jobs(TRANSLATION, ["j2", "zz", "j1", "j2"])

    assert list(found) == ["j2", "zz", "j1"]
    assert (found["j2"].state, found["zz"], found["j1"].state) == ("Running", None, "Success")
    [request] = server.requests
    assert request.path == "/jobs/j2,zz,j1"  # the multi-id read is documented on /jobs (§4)
    assert provider.api_calls == 1


def test_it_reads_at_most_get_batch_ids_per_request(ci):
    ids = [f"j{i:03d}" for i in range(120)]
    server, provider = ci(FakeCI(jobs=ids[:100]))

    found = provider.get_jobs(TRANSLATION, ids)

    assert tencent.GET_BATCH == 50
    assert [len(r.path.removeprefix("/jobs/").split(",")) for r in server.requests] == [50, 50, 20]
    assert [job_id for job_id, record in found.items() if record is None] == ids[100:]
    assert provider.get_jobs(TRANSLATION, []) == {} and len(server.requests) == 3


def test_it_reads_non_exist_job_ids_given_as_one_comma_separated_text(ci):
    body = f"<Response>{job_xml(job_id='j1')}<NonExistJobIds>x1, x2</NonExistJobIds></Response>"
    _, provider = ci(lambda request: Reply(200, body))

    assert provider.get_jobs(TRANSLATION, ["x1", "j1", "x2"]) == {"x1": None, "j1": mock.ANY, "x2": None}


def not_found_batches(known):
    """CI answering a multi-id read with a 404 <Error> (not NonExistJobIds); single reads work."""

    def app(request):
        if request.path.startswith("/jobs/"):
            return Reply(404, "<Error><Code>ResourceNotFound</Code></Error>", {"x-ci-request-id": "rid-404"})
        job_id = request.path.rsplit("/", 1)[-1]
        if job_id not in known:
            return Reply(404, "<Error><Code>ResourceNotFound</Code></Error>", {"x-ci-request-id": "rid-404"})
        return Reply(200, f"<Response>{job_xml(job_id=job_id)}</Response>")

    return app


def test_a_batch_answered_not_found_reads_its_ids_one_by_one(ci):
    server, provider = ci(not_found_batches({"j1"}))

    found = provider.get_jobs(TRANSLATION, ["j1", "gone"])

    assert found["j1"].remote_id == "j1" and found["gone"] is None
    assert [r.path for r in server.requests] == ["/jobs/j1,gone", "/ai_jobs/j1", "/ai_jobs/gone"]


def test_a_one_id_batch_answered_not_found_is_that_job_gone(ci):
    server, provider = ci(not_found_batches({"j1"}))

    assert provider.get_jobs(TRANSLATION, ["gone"]) == {"gone": None}
    assert [r.path for r in server.requests] == ["/jobs/gone"]


@pytest.mark.parametrize(
    "answer, reason",
    [
        (job_xml(job_id="j1") + job_xml(job_id="other"), "not asked for: other"),
        (job_xml(job_id="j1") + "<NonExistJobIds>j2,other</NonExistJobIds>", "not asked for: other"),
        (job_xml(job_id="j1"), "holds neither job.s. j2 nor NonExistJobIds"),
        (job_xml(job_id="j1") + "<NonExistJobIds>j1,j2</NonExistJobIds>", "j1 both answered and missing"),
    ],
)
def test_it_refuses_an_answer_that_does_not_match_the_ids_asked_for(ci, answer, reason):
    _, provider = ci(lambda request: Reply(200, f"<Response>{answer}</Response>", {"x-ci-request-id": "rid-x"}))

    with pytest.raises(ResponseError, match=reason) as raised:
        provider.get_jobs(TRANSLATION, ["j1", "j2"])

    assert raised.value.request_id == "rid-x"


@pytest.mark.parametrize("bad", ["a,b", "../x", "", 7])
def test_it_refuses_an_id_it_cannot_put_in_a_path_before_any_call(ci, bad):
    server, provider = ci(FakeCI(jobs=["j1"]))

    with pytest.raises(ValueError, match="invalid CI job id"):
        provider.get_jobs(TRANSLATION, ["j1", bad])

    assert server.requests == []


def test_it_knows_its_tenant_and_that_ci_documents_no_request_rate():
    provider = TencentProvider(region="ap-guangzhou", bucket=BUCKET, secret_id=SECRET_ID, secret_key=SECRET_KEY)
    other = TencentProvider(
        region="ap-beijing", bucket="other-name-1250000000", secret_id=SECRET_ID, secret_key=SECRET_KEY
    )

    assert provider.tenant_key == other.tenant_key == "ci:1250000000"  # one AppId, two buckets
    assert provider.documented_rps is None


# --- against fakecloud (the simulator; its own signature checks) ----------------------------


def fakecloud_provider(fc, **kwargs):
    creds = fc.tencent
    options = {
        "region": creds["region"],
        "bucket": creds["bucket"],
        "secret_id": creds["secret_id"],
        "secret_key": creds["secret_key"],
        "queue_id": creds["queue_id"],
        "endpoint": fc.url,
        "http_options": {"sleep": lambda s: None},
        **kwargs,
    }
    return TencentProvider(**options)


@pytest.mark.parametrize("list_path", ["/ai_jobs", "/jobs"])
def test_it_lists_every_fakecloud_job_exactly_once(fakecloud, list_path):
    provider = fakecloud_provider(fakecloud, page_size=7, list_path=list_path)

    pages = list(provider.iter_pages(TRANSLATION))

    records = [r for page in pages for r in page.records]
    expected = {job["job_id"]: job["state"] for job in fakecloud.jobs("translation")}
    assert len(records) == len(expected) == 30
    # Listed jobs, normalised on first use; each record is made from its payload.
    assert [e.remote_id for p in pages for e in p.listed] == [r.remote_id for r in records]
    assert all(r.payload["JobId"] == r.remote_id for r in records)
    assert {r.remote_id: r.state for r in records} == expected
    assert all(r.created_at and "→" in r.language for r in records)
    assert fakecloud.counters()["ci.list"] == provider.api_calls == len(pages) == 5


def test_it_gets_one_fakecloud_job(fakecloud):
    provider = fakecloud_provider(fakecloud)
    listed = next(iter(provider.iter_pages(TRANSLATION))).records[0]

    assert provider.get_job(TRANSLATION, listed.remote_id) == listed
    assert provider.get_job(TRANSLATION, "a00000000000000000000000000000000") is None


def test_it_gets_an_auth_error_from_fakecloud_for_a_wrong_secret_without_retrying(fakecloud):
    provider = fakecloud_provider(fakecloud, secret_key="WRONG-SECRET-KEY-0000000000000")

    with pytest.raises(AuthError) as caught:
        list(provider.iter_pages(TRANSLATION))

    assert caught.value.request_id
    assert provider.api_calls == 1
    assert fakecloud.counters()["ci.auth_failures"] == 1


def test_it_sends_the_temporary_token_fakecloud_requires():
    from fakecloud.testing import FakeCloudServer

    with FakeCloudServer(jobs=3, seed=1, speed=0, tencent_token="sts-session-token") as fc:
        records = [
            r
            for page in fakecloud_provider(fc, token="sts-session-token").iter_pages(TRANSLATION)
            for r in page.records
        ]

    assert len(records) == 3


@pytest.mark.parametrize(
    "fault, outcome",
    [
        ({"kind": "throttle", "count": 2, "retry_after": 1}, "ok"),
        ({"kind": "error", "status": 500, "count": 2}, "ok"),
        ({"kind": "truncate", "mode": "length"}, TransportError),
        ({"kind": "malformed", "count": 1}, ResponseError),
        ({"kind": "oversize", "bytes": 300_000, "count": 1}, ResponseError),
        ({"kind": "skew", "seconds": 20000}, AuthError),
    ],
)
def test_it_handles_fakecloud_faults(fakecloud, fault, outcome):
    sleeps = []
    provider = fakecloud_provider(fakecloud, http_options={"sleep": sleeps.append, "max_body_bytes": 200_000})
    fakecloud.set_fault(op="ci.list", **fault)

    if outcome == "ok":
        records = [r for page in provider.iter_pages(TRANSLATION) for r in page.records]
        assert len(records) == 30
        assert provider.api_calls == 3
        assert len(sleeps) == 2
    else:
        with pytest.raises(outcome):
            list(provider.iter_pages(TRANSLATION))
    assert fakecloud.counters()["ci.list"] == provider.api_calls


@pytest.mark.parametrize("list_path", ["/ai_jobs", "/jobs"])
@pytest.mark.parametrize("newest_first", [False, True])
def test_a_filtered_fakecloud_listing_returns_exactly_the_jobs_in_those_states(fakecloud, list_path, newest_first):
    remote = {job["job_id"]: job["state"] for job in fakecloud.jobs("translation")}
    states = {"Running", "Submitted", "Pause"}
    expected = {job_id for job_id, state in remote.items() if state in states}
    assert 0 < len(expected) < len(remote)
    provider = fakecloud_provider(fakecloud, page_size=3, list_path=list_path)

    pages = list(provider.iter_pages(TRANSLATION, states=states, newest_first=newest_first))

    records = [r for page in pages for r in page.records]
    assert sorted(r.remote_id for r in records) == sorted(expected)  # each once, no other
    created = [r.created_at for r in records]
    assert created == sorted(created, reverse=newest_first)
    assert fakecloud.counters()["ci.list"] == provider.api_calls == len(pages)


def test_it_reads_several_fakecloud_jobs_in_one_request(fakecloud):
    provider = fakecloud_provider(fakecloud)
    remote = [job["job_id"] for job in fakecloud.jobs("translation")]
    missing = "a00000000000000000000000000000000"

    found = provider.get_jobs(TRANSLATION, [*remote, missing])

    assert [found[job_id].remote_id for job_id in remote] == remote
    assert found[missing] is None
    assert fakecloud.counters()["ci.detail"] == provider.api_calls == 1
    assert found[remote[0]] == provider.get_job(TRANSLATION, remote[0])  # /jobs/<ids> and /ai_jobs/<id> agree

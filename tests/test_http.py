"""jobs.providers.http against a real loopback server: retries, timeouts, size cap, redaction."""

import json
import logging
import socket

import pytest

from jobs.providers.base import AuthError, NotFoundError, ProviderError, ResponseError, TransportError
from jobs.providers.http import HttpClient, Redactor, VendorError
from tests.http_stub import Reply, StubServer, script

SECRET = "SK-very-secret-0123456789abcdef"


def parse_json_error(status, headers, body):
    data = json.loads(body)
    return VendorError(data.get("code", ""), data.get("msg", ""), data.get("rid", ""))


def make_client(**kwargs):
    sleeps = []
    attempts = []
    options = {
        "connect_timeout": 2,
        "read_timeout": 2,
        "max_retries": 3,
        "sleep": sleeps.append,
        "on_attempt": attempts.append,
        "secrets": [SECRET],
    }
    options.update(kwargs)
    client = HttpClient(**options)
    return client, sleeps, attempts


@pytest.fixture
def serve():
    servers = []

    def start(*replies_or_app):
        app = replies_or_app[0] if callable(replies_or_app[0]) else script(*replies_or_app)
        server = StubServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_it_returns_the_body_and_request_id_of_a_2xx(serve):
    server = serve(Reply(200, b'{"ok": true}', {"X-Request-Id": "rid-1"}))
    client, sleeps, attempts = make_client()

    response = client.request("GET", server.url + "/v1/x")

    assert response.status == 200
    assert json.loads(response.content) == {"ok": True}
    assert response.request_id == "rid-1"
    assert sleeps == []
    assert [a.status for a in attempts] == [200]


def test_it_sends_the_url_exactly_as_given(serve):
    server = serve(Reply(200, b"{}"))
    client, _, _ = make_client()

    client.request("GET", server.url + "/v1/p/jobs?a=1%2C2&b=%20x&c=~&d=%2B0800")

    assert server.requests[0].raw_path == "/v1/p/jobs?a=1%2C2&b=%20x&c=~&d=%2B0800"


def test_it_retries_5xx_honouring_retry_after(serve):
    server = serve(
        Reply(503, b"{}", {"Retry-After": "2"}),
        Reply(503, b"{}", {"Retry-After": "3"}),
        Reply(200, b"{}"),
    )
    client, sleeps, attempts = make_client()

    response = client.request("GET", server.url + "/x")

    assert response.status == 200
    assert response.attempts == 3
    assert sleeps == [2.0, 3.0]
    assert len(server.requests) == 3
    assert [a.status for a in attempts] == [503, 503, 200]
    assert [a.will_retry for a in attempts] == [True, True, False]


def test_it_caps_a_long_retry_after(serve):
    server = serve(Reply(429, b"{}", {"Retry-After": "86400"}), Reply(200, b"{}"))
    client, sleeps, _ = make_client(retry_after_max=7)

    client.request("GET", server.url + "/x")

    assert sleeps == [7]


def test_it_reads_retry_after_given_as_an_http_date(serve):
    server = serve(Reply(429, b"{}", {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}), Reply(200, b"{}"))
    client, sleeps, _ = make_client()

    client.request("GET", server.url + "/x")

    assert sleeps == [0.0]  # a date in the past means "now"


def test_it_backs_off_exponentially_with_jitter(serve):
    server = serve(Reply(500, b"{}"))
    low, low_sleeps, _ = make_client(backoff_base=1, rand=lambda: 0.0)
    high, high_sleeps, _ = make_client(backoff_base=1, rand=lambda: 1.0)

    for client in (low, high):
        with pytest.raises(TransportError):
            client.request("GET", server.url + "/x")

    # Each wait lies between half and all of 1, 2, 4 seconds, as the jitter falls.
    assert low_sleeps == [0.5, 1.0, 2.0]
    assert high_sleeps == [1.0, 2.0, 4.0]


def test_it_gives_up_after_the_retries_with_the_vendor_error(serve):
    server = serve(Reply(429, b'{"code": "APIGW.0308", "msg": "throttled", "rid": "r-429"}'))
    client, sleeps, attempts = make_client(max_retries=2)

    with pytest.raises(TransportError) as caught:
        client.request("GET", server.url + "/x", parse_error=parse_json_error)

    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert len(attempts) == 3
    error = caught.value
    assert (error.status, error.code, error.message, error.request_id) == (429, "APIGW.0308", "throttled", "r-429")
    assert not error.permanent


def test_it_retries_an_answer_the_vendor_marks_throttled_whatever_its_status(serve):
    server = serve(Reply(400, b'{"code": "SlowDown"}'), Reply(200, b"{}"))
    client, sleeps, attempts = make_client()

    def parse(status, headers, body):
        return VendorError("SlowDown", "slow down", throttled=True)

    response = client.request("GET", server.url + "/x", parse_error=parse)

    assert response.status == 200 and response.attempts == 2
    assert len(sleeps) == 1
    assert [(a.status, a.will_retry) for a in attempts] == [(400, True), (200, False)]


@pytest.mark.parametrize(
    "status, error_class",
    [(400, ProviderError), (401, AuthError), (403, AuthError), (404, NotFoundError), (501, ProviderError)],
)
def test_it_never_retries_a_permanent_status(serve, status, error_class):
    server = serve(Reply(status, b'{"code": "E1", "msg": "nope"}', {"X-Request-Id": "hdr-id"}))
    client, sleeps, attempts = make_client()

    with pytest.raises(error_class) as caught:
        client.request("GET", server.url + "/x", parse_error=parse_json_error)

    assert len(server.requests) == 1
    assert sleeps == []
    assert len(attempts) == 1
    assert caught.value.permanent
    assert caught.value.code == "E1"
    assert caught.value.request_id == "hdr-id"  # the header, since the body has none


def test_it_lets_the_parser_choose_the_error_class(serve):
    server = serve(Reply(400, b'{"code": "MSS.00010008"}'))
    client, _, _ = make_client()

    def parse(status, headers, body):
        return VendorError("MSS.00010008", "Invalid token", error_class=AuthError)

    with pytest.raises(AuthError):
        client.request("GET", server.url + "/x", parse_error=parse)


def test_it_keeps_the_status_when_the_error_body_is_garbage(serve):
    server = serve(Reply(400, b"<html>not json"))
    client, _, _ = make_client()

    with pytest.raises(ProviderError) as caught:
        client.request("GET", server.url + "/x", parse_error=parse_json_error)

    assert caught.value.status == 400
    assert caught.value.message == "Bad Request"


def test_it_signs_every_attempt_afresh(serve):
    server = serve(Reply(502, b""), Reply(502, b""), Reply(200, b""))
    client, _, _ = make_client()
    calls = []

    def sign(headers):
        calls.append(1)
        headers["X-Sdk-Date"] = f"attempt-{len(calls)}"
        return headers

    client.request("GET", server.url + "/x", sign=sign)

    assert [r.header("X-Sdk-Date") for r in server.requests] == ["attempt-1", "attempt-2", "attempt-3"]


def test_it_refuses_a_body_declared_larger_than_the_cap(serve):
    server = serve(Reply(200, b"x" * 5000))
    client, sleeps, _ = make_client(max_body_bytes=1000)

    with pytest.raises(ResponseError, match="1000-byte limit"):
        client.request("GET", server.url + "/x")

    assert len(server.requests) == 1  # not retried: the same request gets the same body
    assert sleeps == []


def test_it_stops_reading_a_chunked_body_past_the_cap(serve):
    server = serve(Reply(200, b"y" * 50_000, mode="chunked"))
    client, _, _ = make_client(max_body_bytes=10_000)

    with pytest.raises(ResponseError, match="10000-byte limit"):
        client.request("GET", server.url + "/x")


def test_it_reads_a_chunked_body_under_the_cap(serve):
    server = serve(Reply(200, b"z" * 9000, mode="chunked"))
    client, _, _ = make_client(max_body_bytes=10_000)

    assert client.request("GET", server.url + "/x").content == b"z" * 9000


def test_it_retries_a_read_timeout_then_raises_transport_error(serve):
    server = serve(Reply(mode="hang"))
    client, sleeps, attempts = make_client(read_timeout=0.2, max_retries=1)

    with pytest.raises(TransportError, match="timed out"):
        client.request("GET", server.url + "/x")

    assert len(server.requests) == 2
    assert len(sleeps) == 1
    assert [a.status for a in attempts] == [None, None]


def test_it_retries_connection_errors():
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, sleeps, attempts = make_client(max_retries=2)

    with pytest.raises(TransportError, match="connection failed"):
        client.request("GET", f"http://127.0.0.1:{port}/x")

    assert len(attempts) == 3
    assert len(sleeps) == 2


def test_it_retries_a_truncated_body(serve):
    server = serve(Reply(200, b'{"count": 1', mode="truncate"), Reply(200, b'{"count": 1}'))
    client, sleeps, _ = make_client()

    response = client.request("GET", server.url + "/x")

    assert response.content == b'{"count": 1}'
    assert len(server.requests) == 2


def test_it_does_not_retry_a_post(serve):
    server = serve(Reply(503, b""))
    client, sleeps, _ = make_client()

    with pytest.raises(TransportError):
        client.request("POST", server.url + "/x", body=b"{}")

    assert len(server.requests) == 1


def test_it_never_puts_secrets_in_errors_or_logs(serve, caplog):
    echo = json.dumps({"code": "APIGW.0301", "msg": f"bad signature for key {SECRET}", "rid": "r"}).encode()
    server = serve(Reply(503, echo), Reply(401, echo))
    client, _, attempts = make_client()
    caplog.set_level(logging.DEBUG)

    def sign(headers):
        headers["Authorization"] = "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=" + "ab12" * 16
        headers["X-Auth-Token"] = "token-value-that-is-secret"
        return headers

    with pytest.raises(AuthError) as caught:
        client.request("GET", server.url + "/x", sign=sign, parse_error=parse_json_error)

    # The signed request did go out with its credentials...
    assert server.requests[0].header("X-Auth-Token") == "token-value-that-is-secret"
    # ...but nothing we say about it repeats them.
    said = [str(caught.value), repr(caught.value), caught.value.message, caplog.text]
    said += [a.error for a in attempts]
    for text in said:
        assert SECRET not in text
        assert "ab12ab12" not in text
        assert "token-value-that-is-secret" not in text
    assert "***" in caught.value.message


def test_the_redactor_masks_signatures_and_credential_headers():
    redact = Redactor(["secret-key-123"])

    text = redact(
        "Authorization: SDK-HMAC-SHA256 Access=AK, Signature=0123456789abcdef0123 "
        "q-signature=abcdefabcdefabcdefab {'X-Auth-Token': 'tok'} x-ci-security-token=abc secret-key-123"
    )

    for leaked in ("0123456789abcdef0123", "abcdefabcdefabcdefab", "'tok'", "=abc", "secret-key-123"):
        assert leaked not in text

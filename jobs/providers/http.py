"""The one place that talks HTTP to a cloud: session, timeouts, retries, size cap, redaction
(and the check of an account's endpoint override).

Providers hand in a fully built URL (query string already encoded exactly as signed), a
``sign`` callable that is run on every attempt (signatures carry a timestamp, so a retry must
be re-signed), and a ``parse_error`` callable that reads the vendor's error body. Everything
that leaves this module (exception messages, log lines) goes through ``Redactor`` first.
This module imports no Django: the factory in ``jobs.providers`` passes the settings in (that
package's ``__init__`` does import Django, and runs first).
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from jobs.providers.base import (
    AuthError,
    ConfigError,
    NotFoundError,
    ProviderError,
    ResponseError,
    TransportError,
)

logger = logging.getLogger(__name__)

RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
USER_AGENT = "training-ops-dashboard/1.0"
_CHUNK = 64 * 1024


def is_retryable_status(status: int) -> bool:
    # 501/505 mean "this server will never do that": retrying cannot help.
    return status in (408, 429) or (500 <= status <= 599 and status not in (501, 505))


def validate_endpoint(endpoint: str) -> tuple[str, str]:
    """(base URL without trailing slash, Host header) of an account's endpoint override, which
    must be ``scheme://host[:port]`` and nothing more; ConfigError otherwise."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("endpoint override must be an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError("endpoint override must be scheme://host[:port] with no path, query or credentials")
    if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", parts.netloc):
        raise ConfigError("endpoint override has an invalid host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError("endpoint override has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}", parts.netloc


class Redactor:
    """Removes secrets from text: known secret values, then anything shaped like a credential."""

    _PATTERNS = (
        # Huawei "Signature=<hex>" and COS "q-signature=<hex>".
        (re.compile(r"((?:q-)?signature=)[0-9a-fA-F]{16,}", re.IGNORECASE), r"\1***"),
        # Header dumps: "Authorization: ...", "'X-Auth-Token': '...'", security tokens.
        (
            re.compile(
                r"((?:authorization|x-auth-token|x-security-token|x-c(?:i|os)-security-token)"
                r"['\"]?\s*[:=]\s*['\"]?)[^'\",}\r\n]+",
                re.IGNORECASE,
            ),
            r"\1***",
        ),
    )

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def __repr__(self):  # never print the secrets themselves
        return f"<Redactor of {len(self._secrets)} secret(s)>"

    def add(self, secret: str | None) -> None:
        # Very short values would redact ordinary words; real keys are long.
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def __call__(self, text) -> str:
        text = str(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, "***")
        for pattern, replacement in self._PATTERNS:
            text = pattern.sub(replacement, text)
        return text


@dataclass(frozen=True, slots=True)
class VendorError:
    """What a provider's ``parse_error`` read from an error response."""

    code: str = ""
    message: str = ""
    request_id: str = ""
    # Lets a provider override the status-based class, e.g. a token error the vendor sends as 400.
    error_class: type[ProviderError] | None = None
    # The vendor's throttling code (MetaStudio APIGW.0308, CI SlowDown), whatever the status:
    # the tenant's quota slows down, as on any 429, and the call is retried.
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """Reported to ``on_attempt`` after every HTTP attempt, successful or not."""

    operation: str
    number: int  # 1-based
    status: int | None  # None when no response arrived (timeout, connection error)
    request_id: str = ""
    error: str = ""  # redacted reason when the attempt failed
    will_retry: bool = False
    throttled: bool = False  # a 429 or the vendor's throttling code

    @property
    def failed(self) -> bool:
        return bool(self.error)


@dataclass(slots=True)
class Response:
    status: int
    headers: CaseInsensitiveDict
    content: bytes
    request_id: str = ""
    attempts: int = 1


class Quota(Protocol):
    """A tenant's request budget (jobs.providers.quota.Governor)."""

    def acquire(self) -> None: ...  # wait for a token; TransportError when none comes in time

    def throttled(self) -> None: ...  # the vendor throttled us (a 429, or its throttling code)


SignFn = Callable[[dict], dict]
ErrorParser = Callable[[int, Mapping, bytes], VendorError]


class _RetryableFailure(Exception):
    def __init__(self, error: ProviderError, retry_after: float | None = None, throttled: bool = False):
        self.error = error
        self.retry_after = retry_after
        self.throttled = throttled  # the vendor's error body says so (a 429 says so by its status)


class HttpClient:
    """A requests session with the dashboard's policies. One per provider instance."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_retries: int = 3,
        max_body_bytes: int = 8 * 1024 * 1024,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        retry_after_max: float = 60.0,
        attempt_deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        on_attempt: Callable[[Attempt], None] | None = None,
        request_id_headers: Iterable[str] = ("X-Request-Id",),
        secrets: Iterable[str] = (),
        session: requests.Session | None = None,
        verify: bool | str = True,
        quota: Quota | None = None,
    ):
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max(0, int(max_retries))
        self.max_body_bytes = max_body_bytes
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        # A server that drips one byte per read never trips the read timeout; cap the whole body.
        self.attempt_deadline = attempt_deadline or (connect_timeout + 3 * read_timeout)
        self.sleep = sleep
        self.rand = rand
        self.on_attempt = on_attempt
        self.request_id_headers = tuple(request_id_headers)
        self.redact = Redactor(secrets)
        self.session = session or requests.Session()
        # Credentials never come from ~/.netrc or proxies from the environment by surprise.
        self.session.trust_env = False
        self.verify = verify
        # The tenant's request budget (jobs.providers.quota.Governor): a token per attempt.
        self.quota = quota

    def close(self):
        self.session.close()

    # -- public ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        sign: SignFn | None = None,
        parse_error: ErrorParser | None = None,
        operation: str = "",
        retry: bool | None = None,
    ) -> Response:
        """Send with retries; return a 2xx response or raise a ProviderError subclass.

        ``url`` is sent byte for byte as given (requests does not re-quote it), because the
        signature covers the exact query string. ``retry`` overrides the method's default
        (idempotent methods are retried; a POST only when the caller knows it is safe).
        """
        method = method.upper()
        operation = operation or f"{method} {urlsplit(url).path}"
        retries_left = self.max_retries if (method in RETRY_METHODS if retry is None else retry) else 0
        number = 0
        while True:
            number += 1
            # Signed per attempt: signatures carry a time. A signing failure is not an attempt.
            if self.quota is not None:
                self.quota.acquire()  # before signing: a long wait must not age the signature
            send_headers = self._headers(headers, sign)
            try:
                response = self._attempt(method, url, send_headers, body, parse_error, operation, number)
            except _RetryableFailure as failure:
                if self.quota is not None and (failure.error.status == 429 or failure.throttled):
                    self.quota.throttled()
                will_retry = retries_left > 0
                self._report(
                    operation, number, failure.error, will_retry, failure.error.status == 429 or failure.throttled
                )
                if not will_retry:
                    raise failure.error from None
                delay = self._delay(number, failure.retry_after)
                logger.warning(
                    "%s attempt %d failed (%s); retrying in %.1fs",
                    operation,
                    number,
                    self.redact(failure.error),
                    delay,
                )
                retries_left -= 1
                self.sleep(delay)
                continue
            except ProviderError as error:
                self._report(operation, number, error, False)
                raise
            response.attempts = number
            return response

    # -- internals -------------------------------------------------------------------------

    def _report(self, operation, number, error: ProviderError, will_retry: bool, throttled: bool = False):
        if self.on_attempt:
            self.on_attempt(
                Attempt(
                    operation,
                    number,
                    error.status,
                    error.request_id,
                    self.redact(error) or type(error).__name__,
                    will_retry,
                    throttled or error.status == 429,
                )
            )

    def _delay(self, number: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        # Exponential backoff with "equal jitter": half fixed, half random.
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (number - 1)))
        return ceiling / 2 + self.rand() * ceiling / 2

    def _headers(self, headers, sign) -> dict:
        send_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
        send_headers.update(headers or {})
        if sign is not None:
            send_headers = sign(dict(send_headers))
        # The Authorization value of this attempt is a secret too (replayable until it expires).
        for name, value in send_headers.items():
            lowered = name.lower()
            if lowered in ("authorization", "x-auth-token") or lowered.endswith("security-token"):
                self.redact.add(value)
        return send_headers

    def _attempt(self, method, url, send_headers, body, parse_error, operation, number) -> Response:
        # Prepared by hand: requests.Request.prepare() would re-quote the URL (and spend more
        # time on that than on the rest of the request); it must go out exactly as signed.
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.url = url
        prepared.prepare_headers(send_headers)
        prepared.prepare_body(body or None, None)
        started = time.monotonic()
        try:
            raw = self.session.send(
                prepared, stream=True, timeout=self.timeout, allow_redirects=False, verify=self.verify
            )
        except requests.Timeout as exc:
            raise _RetryableFailure(TransportError(f"timed out: {self._short(exc)}")) from None
        except requests.exceptions.SSLError as exc:  # a bad certificate stays bad
            raise TransportError(f"TLS failed: {self._short(exc)}", permanent=True) from None
        except requests.ConnectionError as exc:
            raise _RetryableFailure(TransportError(f"connection failed: {self._short(exc)}")) from None
        except requests.RequestException as exc:
            raise TransportError(f"request failed: {self._short(exc)}", permanent=True) from None

        try:
            request_id = self._request_id(raw.headers)
            content = self._read_body(raw, started)
        except _RetryableFailure as failure:
            failure.error.status = raw.status_code
            failure.error.request_id = failure.error.request_id or self._request_id(raw.headers)
            raise
        finally:
            raw.close()

        status = raw.status_code
        logger.debug("%s attempt %d -> %s (request id %s)", operation, number, status, request_id or "-")
        if 200 <= status < 300:
            if self.on_attempt:
                self.on_attempt(Attempt(operation, number, status, request_id))
            return Response(status, raw.headers, content, request_id)

        error, throttled = self._error(status, raw.headers, content, parse_error, request_id)
        if is_retryable_status(status) or throttled:
            raise _RetryableFailure(error, self._retry_after(raw.headers), throttled)
        raise error

    def _read_body(self, raw: requests.Response, started: float) -> bytes:
        limit = self.max_body_bytes
        declared = raw.headers.get("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > limit:
            raise ResponseError(
                f"response body of {int(declared)} bytes exceeds the {limit}-byte limit",
                status=raw.status_code,
                request_id=self._request_id(raw.headers),
            )
        chunks, size = [], 0
        try:
            for chunk in raw.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ResponseError(
                        f"response body exceeds the {limit}-byte limit",
                        status=raw.status_code,
                        request_id=self._request_id(raw.headers),
                    )
                if time.monotonic() - started > self.attempt_deadline:
                    raise _RetryableFailure(TransportError(f"response not complete after {self.attempt_deadline:.0f}s"))
                chunks.append(chunk)
        except requests.Timeout as exc:
            raise _RetryableFailure(TransportError(f"timed out reading the body: {self._short(exc)}")) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # Includes a body shorter than its Content-Length (urllib3 enforces it).
            raise _RetryableFailure(TransportError(f"body truncated: {self._short(exc)}")) from None
        except requests.exceptions.ContentDecodingError as exc:
            raise ResponseError(f"undecodable body: {self._short(exc)}", status=raw.status_code) from None
        return b"".join(chunks)

    def _error(self, status, headers, content, parse_error, request_id) -> tuple[ProviderError, bool]:
        """The error to raise, and whether the vendor's body says it throttled us."""
        info = VendorError()
        if parse_error is not None:
            try:
                info = parse_error(status, headers, content)
            except Exception as exc:  # a broken error body must not hide the HTTP status
                logger.debug("error body not parsed: %s", self.redact(exc))
        message = info.message or _reason(status)
        message = self.redact(message[:1000])
        kwargs = {
            "code": self.redact(info.code[:64]),
            "request_id": (info.request_id or request_id)[:128],
            "status": status,
        }
        if info.error_class is not None:
            return info.error_class(message, **kwargs), info.throttled
        if info.throttled or is_retryable_status(status):
            return TransportError(message, **kwargs), info.throttled
        if status in (401, 403):
            return AuthError(message, **kwargs), False
        if status == 404:
            return NotFoundError(message, **kwargs), False
        # Other 4xx (400 bad parameter, 405, 409...): the same request will fail the same way.
        return ProviderError(message, permanent=True, **kwargs), False

    def _request_id(self, headers) -> str:
        for name in self.request_id_headers:
            value = headers.get(name)
            if value:
                return value.strip()[:128]
        return ""

    @staticmethod
    def _retry_after(headers) -> float | None:
        value = (headers.get("Retry-After") or "").strip()
        if not value:
            return None
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())

    def _short(self, exc: Exception) -> str:
        text = self.redact(exc)
        return text if len(text) <= 300 else text[:297] + "..."


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"

"""CI error bodies and the codes that decide an error's class (§10 of
docs/vendors/tencent-ci.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from jobs.providers.base import AuthError, TransportError
from jobs.providers.http import VendorError
from jobs.providers.tencent.wire import local

AUTH_CODES = {"MissingAuthorization", "InvalidAuthorization", "AccessDenied", "SecretidNotExist", "SignatureExpired"}
THROTTLE_CODES = {"SlowDown"}


def parse_error(status: int, headers: Mapping, body: bytes) -> VendorError:
    """``<Error><Code/><Message/><RequestId/><TraceId/></Error>`` (no <Resource>), or the
    JSON form {code, message, request_id} the Go SDK also accepts; ``x-ci-request-id`` header."""
    request_id = headers.get("x-ci-request-id") or headers.get("x-cos-request-id") or ""
    code = message = ""
    stripped = body.lstrip()
    if stripped.startswith(b"<"):
        try:
            root = SafeET.fromstring(body)
        except (DefusedXmlException, SafeET.ParseError):
            root = None
        if root is not None and local(root.tag) == "Error":
            for child in root:
                name, text = local(child.tag), (child.text or "").strip()
                if name == "Code":
                    code = text
                elif name == "Message":
                    message = text
                elif name == "RequestId" and text:
                    request_id = text
    elif stripped.startswith(b"{"):
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if isinstance(data, dict):
            code, message = str(data.get("code") or ""), str(data.get("message") or "")
            request_id = str(data.get("request_id") or request_id)
    error_class = AuthError if code in AUTH_CODES else TransportError if code in THROTTLE_CODES else None
    return VendorError(code, message, request_id, error_class, throttled=code in THROTTLE_CODES)

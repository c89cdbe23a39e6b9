"""Huawei Cloud IAM: project-scoped tokens from a user name and password
(docs/vendors/huawei-metastudio.md §8).

`POST /v3/auth/tokens` answers 201 with the token in the `X-Subject-Token` header; MetaStudio
then accepts it as `X-Auth-Token` instead of an AK/SK signature. A token lives 24 hours on the
virtual clock (the one `/_fakecloud/advance` moves), so a test can let it run out without
waiting, and `/_fakecloud/iam/expire` ends every issued token at once to exercise a client's
refresh-on-401. IAM answers its own errors keystone-style, `{"error": {"code", "message",
"title"}}`; what the gateway in front of it says (5xx, throttling) comes from huawei.py.
"""

import hmac
import json
import re
import secrets
import threading
import time

from . import huawei
from .wire import json_response, match_route

ROUTES = [
    ("iam.token", "POST", re.compile(r"^/v3/auth/tokens/?$")),
]
OPERATIONS = [op for op, _, _ in ROUTES]
TOKEN_LIFETIME_MS = 24 * 3600 * 1000

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}
WRONG_PASSWORD = "The username or password is wrong."
NO_PROJECT = "The project does not exist or is not accessible."


def match(method, path):
    return match_route(ROUTES, method, path)


def error(status, message, request_id):
    payload = {"error": {"code": status, "message": message, "title": _TITLES[status]}}
    return json_response(status, payload, request_id)


def server_error(status, request_id):
    """IAM's own 500; 502–504 come from the API gateway in front of it, as for MetaStudio."""
    if status == 500:
        return error(500, "An unexpected error prevented the server from fulfilling your request.", request_id)
    return huawei.server_error(status, request_id)


throttled = huawei.throttled  # the gateway's APIGW.0308, with Retry-After


def no_route(op, request_id):
    if op == "method":
        return error(405, "The method is not allowed for the requested URL.", request_id)
    return error(404, "The resource could not be found.", request_id)


def iam_time(ms):
    """IAM's `2026-11-23T03:00:00.123000Z`: UTC with a microsecond fraction (whole milliseconds here)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}000Z"


class TokenStore:
    """Issued tokens and their expiry (virtual epoch ms). Expired tokens are kept, so using one
    says "token expires" rather than "decrypt token fail", as the real gateway does."""

    def __init__(self):
        self._lock = threading.Lock()
        self._expires = {}

    def issue(self, now_ms):
        # Real tokens are kilobytes of base64 CMS starting "MII"; clients must treat them as opaque
        # strings, so a long random one unique per issue is enough.
        token = "MII" + secrets.token_urlsafe(192)
        expires = now_ms + TOKEN_LIFETIME_MS
        with self._lock:
            self._expires[token] = expires
        return token, expires

    def state(self, token, now_ms):
        """The token's state for auth.verify_huawei: "valid", "expired", or None (never issued here)."""
        with self._lock:
            expires = self._expires.get(token)
        if expires is None:
            return None
        return "valid" if now_ms < expires else "expired"

    def expire_all(self, now_ms):
        """End every token still valid; returns how many there were."""
        with self._lock:
            live = [token for token, expires in self._expires.items() if now_ms < expires]
            for token in live:
                self._expires[token] = now_ms
        return len(live)


class BadBody(Exception):
    pass


def _field(node, *path):
    """node[path[0]][path[1]]... , each step a JSON object; BadBody names what is missing."""
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            raise BadBody(f"auth.{'.'.join(path[: depth + 1])} is required")
        node = node[key]
    return node


def _text(node, *path):
    value = _field(node, *path)
    if not isinstance(value, str) or not value:
        raise BadBody(f"auth.{'.'.join(path)} must be a non-empty string")
    return value


def _parse(body):
    """(user, password, domain, scope project) from a password-method request body."""
    try:
        payload = json.loads(body or b"")
    except ValueError:
        raise BadBody("The request body is not valid JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("auth"), dict):
        raise BadBody("auth is required")
    auth = payload["auth"]
    if _field(auth, "identity", "methods") != ["password"]:
        raise BadBody('auth.identity.methods must be ["password"]')
    user = _text(auth, "identity", "password", "user", "name")
    password = _text(auth, "identity", "password", "user", "password")
    domain = _text(auth, "identity", "password", "user", "domain", "name")
    project = _field(auth, "scope", "project")
    if not isinstance(project, dict) or not any(isinstance(project.get(k), str) for k in ("id", "name")):
        raise BadBody("auth.scope.project needs an id or a name")
    return user, password, domain, project


def _same(given, expected):
    # compare_digest takes ASCII str only; a password may be anything.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _catalog(app, req):
    """What a real token lists unless `nocatalog=true`: here only MetaStudio, at fakecloud's own URL."""
    region = app.huawei["region"]
    return [
        {
            "id": "f0c1d2e3b4a5968778695a4b3c2d1e0f",
            "name": "metastudio",
            "type": "metastudio",
            "endpoints": [
                {
                    "id": "0e1d2c3b4a5968778695a4b3c2d1e0f1",
                    "interface": "public",
                    "region": region,
                    "region_id": region,
                    "url": req.base_url,
                }
            ],
        }
    ]


def issue_token(app, req):
    """POST /v3/auth/tokens: 400 for a body that is not a password request, 401 for wrong
    credentials or another project, else 201 with the new token in X-Subject-Token."""
    try:
        user, password, domain, project = _parse(req.body)
    except BadBody as exc:
        return error(400, str(exc), req.request_id)
    hw = app.huawei
    failure = None
    # All three are compared (a list, not `and`), so the timing does not tell which one was wrong.
    if not all([_same(user, hw["iam_user"]), _same(password, hw["iam_password"]), _same(domain, hw["iam_domain"])]):
        failure = WRONG_PASSWORD
    elif project.get("id", hw["project_id"]) != hw["project_id"] or project.get("name", hw["region"]) != hw["region"]:
        failure = NO_PROJECT
    if failure:
        app.counters.add("auth_failures")
        app.counters.add("iam.auth_failures")
        return error(401, failure, req.request_id)
    now = app.clock.now_ms()
    token, expires = app.tokens.issue(now)
    payload = {
        "token": {
            "expires_at": iam_time(expires),
            "issued_at": iam_time(now),
            "methods": ["password"],
            "project": {"id": hw["project_id"], "name": hw["region"]},
            "user": {"name": hw["iam_user"], "domain": {"name": hw["iam_domain"]}},
        }
    }
    if req.query.get("nocatalog", "").lower() != "true":
        payload["token"]["catalog"] = _catalog(app, req)
    return json_response(201, payload, req.request_id, extra_headers=[("X-Subject-Token", token)])


HANDLERS = {
    "iam.token": issue_token,
}

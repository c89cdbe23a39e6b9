"""The HTTP server: one port for both clouds (and Huawei IAM), plus the `/_fakecloud/` control API.

Requests arrive in origin form (`GET /v1/...`) or absolute form (`GET http://bucket.ci.region.
myqcloud.com/ai_jobs?...`, what an SDK sends through `Proxies={'http': url}`); either way they
are routed by path: `/v1/` is MetaStudio, `/v3/` is IAM, the rest is CI. Per request: count it,
spend one request of its tenant's rate limit (if one is set; a throttled request stops here, so it
changes nothing), fire the matching faults, verify the signature (IAM checks the password in its
own handler), run the operation, then apply the body faults. HTTP/1.1 keep-alive, always with
Content-Length.

The control API needs no signature; it answers loopback clients only (fakecloud is a local
simulator and should be bound to 127.0.0.1).
"""

import ipaddress
import json
import math
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from . import auth, data, faults, huawei, iam, tencent
from .clock import VirtualClock, parse_time_ms, rfc3339
from .defaults import DEFAULTS
from .ratelimit import RateLimiter
from .wire import Request, huawei_request_id

COUNTER_KEYS = (
    huawei.OPERATIONS
    + iam.OPERATIONS
    + tencent.OPERATIONS
    + [
        "auth_failures",
        "huawei.auth_failures",
        "iam.auth_failures",
        "ci.auth_failures",
        "throttled",
        "huawei.throttled",
        "ci.throttled",
        "unknown",
    ]
)
# cloud -> its module: match, HANDLERS, server_error, throttled
CLOUDS = {"huawei": huawei, "iam": iam, "tencent": tencent}


def cloud_of(path):
    if path.startswith("/v1/"):
        return "huawei"
    if path.startswith("/v3/"):
        return "iam"
    return "tencent"


class Counters:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._counts = dict.fromkeys(COUNTER_KEYS, 0)

    def add(self, key, n=1):
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def snapshot(self):
        with self._lock:
            return dict(self._counts)


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class App:
    def __init__(
        self,
        jobs=300,
        seed=7,
        speed=1.0,
        start_ms=None,
        short_jobs=None,
        arrivals=None,
        credentials=None,
        faults_=(),
        rate_limit=None,
        log=None,
    ):
        creds = dict(DEFAULTS)
        creds.update({k: v for k, v in (credentials or {}).items() if v is not None})
        self.huawei = {
            "ak": creds["huawei_ak"],
            "sk": creds["huawei_sk"],
            "project_id": creds["huawei_project_id"],
            "region": creds["huawei_region"],
            "token": creds["huawei_token"] or "",
            "iam_domain": creds["huawei_iam_domain"],
            "iam_user": creds["huawei_iam_user"],
            "iam_password": creds["huawei_iam_password"],
        }
        self.tencent = {
            "secret_id": creds["tencent_secret_id"],
            "secret_key": creds["tencent_secret_key"],
            "bucket": creds["tencent_bucket"],
            "region": creds["tencent_region"],
            "queue_id": creds["tencent_queue_id"],
            "token": creds["tencent_token"] or "",
        }
        self.clock = VirtualClock(start_ms, speed)
        self.store = data.Store(self.clock, seed=seed, jobs=jobs, short_jobs=short_jobs, arrivals=arrivals)
        self.tokens = iam.TokenStore()
        self.faults = faults.FaultSet(seed=seed)
        self.limiter = RateLimiter(rate_limit)
        for spec in faults_:
            self.faults.add(spec)
        self.counters = Counters()
        self.stopping = threading.Event()
        self.url = ""
        region = self.huawei["region"]
        self.obs_prefix = f"https://metastudio-{region}.obs.{region}.myhuaweicloud.com/{self.huawei['project_id']}/"
        self.log = log  # a callable taking one line, or None for silence

    # --- the clouds -----------------------------------------------------------------------

    def route(self, method, path):
        """(cloud, operation, params); operation None = no such API, "method" = wrong method."""
        cloud = cloud_of(path)
        found = CLOUDS[cloud].match(method, path)
        if found is None:
            return cloud, None, None
        return cloud, found[0], found[1]

    def serve(self, req, fired_sleep):
        """One cloud request -> (Response, fired faults)."""
        cloud, op, params = self.route(req.method, req.path)
        req.request_id = tencent.request_id() if cloud == "tencent" else huawei_request_id()
        if op is None or op == "method":
            self.counters.add("unknown")
            return self._no_route(cloud, op, req), {}
        req.params = {k: unquote(v) for k, v in params.items()}
        self.counters.add(op)
        throttled = self._over_limit(cloud, req)
        if throttled is not None:
            return throttled, {}
        fired = self.faults.fire(op)
        if "latency" in fired:
            fired_sleep(fired["latency"]["delay_ms"] / 1000)
        if "hang" in fired:
            if fired_sleep(fired["hang"]["seconds"]):
                return None, fired  # stopping: drop the connection
        if "error" in fired:
            status = int(fired["error"]["status"])
            return CLOUDS[cloud].server_error(status, req.request_id), fired
        if "throttle" in fired:
            spec = fired["throttle"]
            return CLOUDS[cloud].throttled(int(spec["status"]), spec["retry_after"], req.request_id), fired
        now = time.time() + (fired["skew"]["seconds"] if "skew" in fired else 0)
        denied = self._authenticate(cloud, req, now)
        if denied is not None:
            self.counters.add("auth_failures")
            self.counters.add("huawei.auth_failures" if cloud == "huawei" else "ci.auth_failures")
            return denied, fired
        if cloud == "huawei" and params.get("project") != self.huawei["project_id"]:
            return huawei.error(400, "MSS.00010009", "urlTenantId is not equal tokenTenantId", req.request_id), fired
        req.duplicate = fired.get("duplicate")
        return CLOUDS[cloud].HANDLERS[op](self, req), fired

    def _tenant(self, cloud, req):
        """Whose rate limit a request spends: its MetaStudio project, or its CI bucket's owner
        (AppId; two buckets of one account share it). IAM is not a MetaStudio call: None."""
        if cloud == "huawei":
            return "huawei", req.params.get("project", "")
        if cloud == "tencent":
            return "tencent", tencent.appid_of(tencent.bucket_of(req.host, self.tencent["bucket"]))
        return None

    def _over_limit(self, cloud, req):
        """The vendor's throttling answer when the request's tenant is over the rate limit, else None."""
        refused = self.limiter.take(self._tenant(cloud, req))
        if refused is None:
            return None
        wait, rps = refused
        self.counters.add("throttled")
        self.counters.add("huawei.throttled" if cloud == "huawei" else "ci.throttled")
        # Neither vendor documents Retry-After on a throttled answer; the throttle fault sends one,
        # so the limit does too: whole seconds until the tenant's next request would pass.
        return CLOUDS[cloud].throttled(429, max(1, math.ceil(wait)), req.request_id, limit=rps)

    def _no_route(self, cloud, op, req):
        if cloud == "iam":
            return iam.no_route(op, req.request_id)
        if cloud == "huawei":
            if op == "method":
                return huawei.error(400, "MSS.00010004", "SR.method not allowed", req.request_id)
            return huawei.gateway_error(
                404, "APIGW.0101", "The API does not exist or has not been published in the environment", req.request_id
            )
        if op == "method":
            return tencent.error(405, "MethodNotAllowed", "The specified method is not allowed", req.request_id)
        return tencent.error(404, "ResourceNotFound", "The requested resource does not exist", req.request_id)

    def _authenticate(self, cloud, req, now):
        if cloud == "iam":
            return None  # the password in the body is the credential; iam.issue_token checks it
        if cloud == "huawei":
            failure = auth.verify_huawei(
                req.method,
                req.path,
                req.raw_query,
                req.headers,
                req.body,
                self.huawei,
                now,
                token_state=self._token_state,
            )
            if failure:
                return huawei.gateway_error(failure.status, failure.code, failure.message, req.request_id)
            return None
        host = req.headers.get("host", "")
        suffix = f".ci.{self.tencent['region']}.myqcloud.com"
        if host.endswith(suffix) and host[: -len(suffix)] != self.tencent["bucket"]:
            return tencent.error(404, "NoSuchBucket", "The specified bucket does not exist", req.request_id)
        failure = auth.verify_cos(req.method, req.path, req.raw_query, req.headers, self.tencent, now)
        if failure:
            return tencent.error(failure.status, failure.code, failure.message, req.request_id)
        return None

    def _token_state(self, token):
        # Issued tokens expire on the virtual clock; `now` in _authenticate is the auth (wall) clock.
        return self.tokens.state(token, self.clock.now_ms())

    # --- body faults ----------------------------------------------------------------------

    @staticmethod
    def mangle(resp, fired):
        """Apply malformed / oversize to the body; returns (body, declared Content-Length)."""
        body = resp.body
        is_xml = resp.content_type.startswith("application/xml")
        if "malformed" in fired:
            if is_xml and b"</Tag>" in body:
                body = body.replace(b"</Tag>", b"<Tag>", 1)  # the seed page's own mistake
            elif is_xml and b"</Response>" in body:
                body = body.replace(b"</Response>", b"<Broken></Response>", 1)
            elif body.endswith(b"}"):
                body = body[:-1] + b",}"  # a trailing comma, as in CI's own JSON sample
            else:
                body = body + b"<"
        if "oversize" in fired:
            target = int(fired["oversize"]["bytes"])
            if len(body) < target:
                pad = b" " * (target - len(body))
                cut = body.find(b">", body.find(b"<Response")) + 1 if is_xml else 1
                body = body[:cut] + pad + body[cut:]
        declared = len(body)
        truncate = fired.get("truncate")
        if truncate:
            half = len(body) // 2
            if truncate["mode"] == "cut":
                body = body[:half]
                declared = len(body)
            else:
                body = body[:half]  # declared stays the full length; the connection then closes
        return body, declared

    # --- control API ----------------------------------------------------------------------

    def state(self):
        clock = self.clock
        now = clock.now_ms()
        return {
            "url": self.url,
            "clock": {
                "now": rfc3339(now),
                "now_ms": now,
                "start": rfc3339(clock.start_ms),
                "start_ms": clock.start_ms,
                "speed": clock.speed,
                "advanced_seconds": clock.offset_seconds,
            },
            "seed": self.store.seed,
            "size": self.store.size,
            "jobs": {kind: self.store.visible_count(kind) for kind in data.KINDS},
            "huawei": {
                "ak": self.huawei["ak"],
                "project_id": self.huawei["project_id"],
                "region": self.huawei["region"],
                "token_configured": bool(self.huawei["token"]),
                "iam_domain": self.huawei["iam_domain"],
                "iam_user": self.huawei["iam_user"],
                "iam_endpoint": self.url,
                "endpoint": self.url,
                "paths": "/v1/{project_id}/...",
            },
            "tencent": {
                "secret_id": self.tencent["secret_id"],
                "bucket": self.tencent["bucket"],
                "region": self.tencent["region"],
                "queue_id": self.tencent["queue_id"],
                "token_configured": bool(self.tencent["token"]),
                "endpoint": self.url,
                "paths": ["/ai_jobs", "/jobs"],
            },
            "short_job_ids": self.store.short_job_ids(),
            "faults": self.faults.describe(),
            "rate_limit": self.limiter.describe(),
        }

    def job_info(self, kind, job_id):
        kind = data.normalise_kind(kind)
        job = self.store.kinds[kind].by_id.get(job_id)
        if job is None:
            raise ControlError(404, f"no {kind} job {job_id}")
        now = self.clock.now_ms()
        return {
            "kind": kind,
            "job_id": job.job_id,
            "name": job.name,
            "state": job.state_at(now),
            "removed": job.removed,
            "create_ms": job.create_ms,
            "path": job.path.name,
            "next_transition_ms": job.next_transition_ms(now),
            "schedule": [[t, s] for t, s in job.schedule()],
        }

    def control(self, method, path, query, payload):
        """The control API, shared by HTTP and the in-process test helper: (status, JSON)."""
        parts = [p for p in path.split("/") if p][1:]  # drop "_fakecloud"
        name = parts[0] if parts else ""
        try:
            if name == "" and method == "GET":
                return 200, {"endpoints": CONTROL_HELP}
            if name == "state" and method == "GET":
                return 200, self.state()
            if name == "counters":
                if method == "GET":
                    return 200, self.counters.snapshot()
                if method == "DELETE":
                    self.counters.reset()
                    return 200, self.counters.snapshot()
            if name == "faults":
                if method == "GET":
                    return 200, {"faults": self.faults.describe()}
                if method == "DELETE":
                    self.faults.clear()
                    return 200, {"faults": []}
                if method in ("PUT", "POST"):
                    specs = payload.get("faults", payload) if isinstance(payload, dict) else payload
                    specs = specs if isinstance(specs, list) else [specs]
                    if method == "PUT":
                        self.faults.replace(specs)
                    else:
                        for spec in specs:
                            self.faults.add(spec)
                    return 200, {"faults": self.faults.describe()}
            if name == "rate-limit":
                if method == "GET":
                    return 200, self.limiter.describe()
                if method == "DELETE":
                    self.limiter.set(None)
                    return 200, self.limiter.describe()
                if method in ("PUT", "POST"):
                    if not isinstance(payload, dict) or "rps" not in payload:
                        raise ValueError("rps is required (null turns the limit off)")
                    self.limiter.set(payload["rps"])
                    return 200, self.limiter.describe()
            if name == "advance" and method == "POST":
                seconds = float(_require(payload, "seconds"))
                now = self.store.advance(seconds)
                return 200, {"now": rfc3339(now), "now_ms": now}
            if name == "iam" and parts[1:] == ["expire"] and method == "POST":
                return 200, {"expired": self.tokens.expire_all(self.clock.now_ms())}
            if name == "short-jobs" and method == "GET":
                return 200, {"short_job_ids": self.store.short_job_ids()}
            if name == "jobs" and method == "GET":
                if len(parts) == 3:
                    return 200, self.job_info(parts[1], unquote(parts[2]))
                kind = data.normalise_kind(parts[1] if len(parts) > 1 else query.get("kind", ""))
                snap = self.store.snapshot(kind)
                return 200, {
                    "kind": kind,
                    "now_ms": snap.t,
                    "jobs": [
                        {"job_id": job.job_id, "name": job.name, "state": job.path.states[si]} for job, si in snap.rows
                    ],
                }
            if name == "jobs" and method == "POST":
                return 200, self._add_job(payload)
            if name == "remove" and method == "POST":
                removed = self.store.remove_job(_require(payload, "kind"), _require(payload, "job_id"))
                if not removed:
                    raise ControlError(404, "no such job")
                return 200, {"removed": True}
            if name == "transition" and method == "POST":
                job = self.store.set_state(
                    _require(payload, "kind"), _require(payload, "job_id"), _require(payload, "state")
                )
                if job is None:
                    raise ControlError(404, "no such job")
                return 200, self.job_info(job.kind, job.job_id)
            if name == "obs" and method in ("PUT", "POST"):
                return 200, {}  # the short-job upload URL points here; the bytes are dropped
        except ControlError as exc:
            return exc.status, {"error": exc.message}
        except (ValueError, TypeError, faults.FaultError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": f"no control endpoint {method} {path}", "endpoints": CONTROL_HELP}

    def _add_job(self, payload):
        fields = dict(payload or {})
        kind = data.normalise_kind(fields.pop("kind", ""))
        state = fields.pop("state", None)
        schedule = fields.pop("schedule", None)
        created = fields.pop("create_time", None)
        job = self.store.add_job(kind, fields, state=state, schedule=schedule)
        if created is not None:
            ms = created if isinstance(created, int) else parse_time_ms(str(created))
            with self.store.lock:
                shift = ms - job.create_ms
                ks = self.store.kinds[kind]
                ks.retime(job, type(job.times)("q", [t + shift for t in job.times]))
                job.create_ms = job.times[0]
                ks.jobs.remove(job)
                ks.insert(job)
                ks.by_id[job.job_id] = job
                self.store._bump()
        return self.job_info(kind, job.job_id)


CONTROL_HELP = [
    "GET    /_fakecloud/state                      clock, sizes, credentials (non-secret), short job ids",
    "GET    /_fakecloud/counters                   requests per operation and auth failures",
    "DELETE /_fakecloud/counters                   reset them",
    "GET    /_fakecloud/faults                     the faults and how often each fired",
    'PUT    /_fakecloud/faults                     replace them: {"faults": [{"kind": ...}, ...]}',
    "POST   /_fakecloud/faults                     add one (or a list)",
    "DELETE /_fakecloud/faults                     clear them",
    "GET    /_fakecloud/rate-limit                 the per-tenant request limit: {rps, burst}",
    'POST   /_fakecloud/rate-limit                 {"rps": N}: N requests a second, burst N; null = off',
    "DELETE /_fakecloud/rate-limit                 no limit",
    'POST   /_fakecloud/advance                    {"seconds": N}: move the virtual clock',
    "POST   /_fakecloud/iam/expire                 expire every issued IAM token now",
    "GET    /_fakecloud/jobs/<kind>                 every visible job: id, name, state",
    "GET    /_fakecloud/jobs/<kind>/<job_id>        a job's schedule and next transition",
    'POST   /_fakecloud/jobs                       {"kind": ..., fields..., "state" | "schedule"}: add a job',
    'POST   /_fakecloud/remove                     {"kind": ..., "job_id": ...}: delete a job',
    'POST   /_fakecloud/transition                 {"kind": ..., "job_id": ..., "state": ...}: move a job now',
    "GET    /_fakecloud/short-jobs                 ids of the pre-generated short (VOICE_ASSESS) jobs",
]


def _require(payload, key):
    if not isinstance(payload, dict) or payload.get(key) in (None, ""):
        raise ValueError(f"{key} is required")
    return payload[key]


# --- HTTP ------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecloud"
    sys_version = ""
    wbufsize = 1 << 16  # headers and body leave in one write
    disable_nagle_algorithm = True

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def _handle(self):
        app = self.server.app
        target = self.path
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            path, raw_query = parts.path or "/", parts.query
        else:
            path, _, raw_query = target.partition("?")
        headers = {}
        for key, value in self.headers.items():
            headers[key.lower()] = value
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        started = time.monotonic()

        if path == "/_fakecloud" or path.startswith("/_fakecloud/"):
            self._control(app, path, raw_query, body)
            return

        req = Request(
            method=self.command,
            path=path,
            raw_query=raw_query,
            query={},
            headers=headers,
            body=body,
            host=headers.get("host", ""),
            base_url=app.url,
        )
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            req.query.setdefault(key, value)
        try:
            resp, fired = app.serve(req, app.stopping.wait)
        except Exception:  # noqa: BLE001 - a bug in fakecloud answers like the vendor's 500
            traceback.print_exc()
            cloud = cloud_of(path)
            rid = req.request_id or (tencent.request_id() if cloud == "tencent" else huawei_request_id())
            resp, fired = CLOUDS[cloud].server_error(500, rid), {}
        if resp is None:
            self.close_connection = True
            return
        payload, declared = app.mangle(resp, fired)
        self.server_version = "tencent-ci" if resp.cloud == "tencent" else "fakecloud"
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(declared))
            for key, value in resp.headers:
                if key.lower() != "server":
                    self.send_header(key, value)
            if declared != len(payload):
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
            if declared != len(payload):
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        if app.log:
            took = (time.monotonic() - started) * 1000
            app.log(
                f"{self.command} {path} -> {resp.status} ({took:.1f} ms){' faults=' + ','.join(fired) if fired else ''}"
            )

    def _control(self, app, path, raw_query, body):
        if not _is_loopback(self.client_address[0]):
            status, payload = 403, {"error": "the control API answers loopback clients only"}
        else:
            try:
                parsed = json.loads(body) if body.strip() else {}
            except ValueError:
                parsed = None
            if parsed is None:
                status, payload = 400, {"error": "the body must be JSON"}
            else:
                query = dict(parse_qsl(raw_query))
                status, payload = app.control(self.command, path, query, parsed)
        out = json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        self.wfile.flush()


def _is_loopback(address):
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, host, port):
        self.app = app
        super().__init__((host, port), Handler)
        bound_host, bound_port = self.server_address[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        app.url = f"http://{shown}:{bound_port}"

    def shutdown(self):
        self.app.stopping.set()
        super().shutdown()


def stderr_log(line):
    print(line, file=sys.stderr, flush=True)

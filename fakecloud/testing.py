"""fakecloud for tests and benchmarks.

    from fakecloud.testing import FakeCloudServer

    with FakeCloudServer(jobs=50, seed=1, speed=0) as fc:
        fc.url                      # http://127.0.0.1:<free port>
        fc.huawei                   # {"ak", "sk", "project_id", "token", "region",
                                    #  "iam_domain", "iam_user", "iam_password"}
        fc.tencent                  # {"secret_id", "secret_key", "bucket", "queue_id", "region", "token"}
        fc.advance(3600)            # move the virtual clock; returns the new time (epoch ms)
        fc.expire_tokens()          # every issued IAM token expires now; returns how many did
        fc.set_fault("error", op="avatar.list", after=2, count=1, status=503)   # page 3 fails
        fc.clear_faults()
        fc.set_rate_limit(5)        # 5 requests a second per tenant, burst 5; None turns it off
        fc.counters()               # {"avatar.list": 3, ..., "auth_failures": 0, "throttled": 0}
        fc.reset_counters()
        job_id = fc.add_job("avatar", name="x", state="TRAINING")
        fc.remove_job("avatar", job_id)
        fc.set_state("voice", voice_id, "FAILED")
        fc.short_job_ids()
        fc.jobs("avatar")           # [{"job_id", "name", "state"}] of every visible job
        fc.job("avatar", job_id)    # its schedule and next transition

FakeCloudServer runs in a thread of the test process (speed 0 by default: the clock moves only
with advance()). FakeCloudProcess runs `python -m fakecloud` in a subprocess (for benchmarks,
so the server does not share the GIL with the client); it has the same methods, over HTTP.
Credentials reach the subprocess through environment variables, never argv.
"""

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

from .defaults import ENV_VARS
from .server import App, Server

_CREDENTIAL_KEYS = tuple(ENV_VARS)


class _Control:
    """The test-facing methods, on top of one `_control(method, path, payload)` primitive."""

    def _control(self, method, path, payload=None):
        raise NotImplementedError

    def _ok(self, method, path, payload=None):
        status, body = self._control(method, path, payload)
        if status != 200:
            raise RuntimeError(f"fakecloud control {method} {path}: {status} {body.get('error')}")
        return body

    def state(self):
        return self._ok("GET", "/_fakecloud/state")

    def now_ms(self):
        return self.state()["clock"]["now_ms"]

    def advance(self, seconds):
        return self._ok("POST", "/_fakecloud/advance", {"seconds": seconds})["now_ms"]

    def expire_tokens(self):
        """Expire every IAM token issued so far (a client's refresh-on-401 path); returns the count."""
        return self._ok("POST", "/_fakecloud/iam/expire")["expired"]

    def set_fault(self, kind=None, **params):
        """set_fault("error", op="avatar.list", count=1, status=503) or set_fault({...})."""
        spec = dict(kind) if isinstance(kind, dict) else {"kind": kind}
        spec.update(params)
        faults = self._ok("POST", "/_fakecloud/faults", spec)["faults"]
        return faults[-1]

    def faults(self):
        return self._ok("GET", "/_fakecloud/faults")["faults"]

    def clear_faults(self):
        self._ok("DELETE", "/_fakecloud/faults")

    def set_rate_limit(self, rps):
        """rps requests a second per tenant with a burst of rps (budgets start full); None: no limit."""
        return self._ok("POST", "/_fakecloud/rate-limit", {"rps": rps})

    def counters(self):
        return self._ok("GET", "/_fakecloud/counters")

    def reset_counters(self):
        self._ok("DELETE", "/_fakecloud/counters")

    def add_job(self, kind, **fields):
        """Add a job created now; `state=` or `schedule=[[seconds, state], ...]`; returns its id."""
        return self._ok("POST", "/_fakecloud/jobs", {"kind": kind, **fields})["job_id"]

    def remove_job(self, kind, remote_id):
        status, _ = self._control("POST", "/_fakecloud/remove", {"kind": kind, "job_id": remote_id})
        return status == 200

    def set_state(self, kind, remote_id, state):
        return self._ok("POST", "/_fakecloud/transition", {"kind": kind, "job_id": remote_id, "state": state})

    def short_job_ids(self):
        return self._ok("GET", "/_fakecloud/short-jobs")["short_job_ids"]

    def jobs(self, kind):
        return self._ok("GET", f"/_fakecloud/jobs/{kind}")["jobs"]

    def job(self, kind, remote_id):
        return self._ok("GET", f"/_fakecloud/jobs/{kind}/{remote_id}")


class FakeCloudServer(_Control):
    def __init__(
        self,
        jobs=50,
        seed=1,
        speed=0,
        start_ms=None,
        host="127.0.0.1",
        port=0,
        short_jobs=None,
        arrivals=None,
        faults=(),
        rate_limit=None,
        log=None,
        **credentials,
    ):
        unknown = set(credentials) - set(_CREDENTIAL_KEYS)
        if unknown:
            raise TypeError(f"unknown credential arguments: {', '.join(sorted(unknown))}")
        self.app = App(
            jobs=jobs,
            seed=seed,
            speed=speed,
            start_ms=start_ms,
            short_jobs=short_jobs,
            arrivals=arrivals,
            credentials=credentials,
            faults_=faults,
            rate_limit=rate_limit,
            log=log,
        )
        self._host, self._port = host, port
        self._server = None
        self._thread = None

    @property
    def url(self):
        return self.app.url

    @property
    def huawei(self):
        return dict(self.app.huawei)

    @property
    def tencent(self):
        return dict(self.app.tencent)

    @property
    def store(self):
        return self.app.store

    def start(self):
        self._server = Server(self.app, self._host, self._port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakecloud", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _control(self, method, path, payload=None):
        return self.app.control(method, path, {}, payload or {})


class FakeCloudProcess(_Control):
    def __init__(
        self,
        jobs=300,
        seed=1,
        speed=0,
        host="127.0.0.1",
        port=0,
        rate_limit=None,
        extra_args=(),
        stderr=None,
        **credentials,
    ):
        unknown = set(credentials) - set(_CREDENTIAL_KEYS)
        if unknown:
            raise TypeError(f"unknown credential arguments: {', '.join(sorted(unknown))}")
        self._args = [
            sys.executable,
            "-m",
            "fakecloud",
            "--host",
            host,
            "--port",
            str(port),
            "--jobs",
            str(jobs),
            "--seed",
            str(seed),
            "--speed",
            str(speed),
            "--quiet",
            *(["--rate-limit", str(rate_limit)] if rate_limit is not None else []),
            *extra_args,
        ]
        self._env = dict(os.environ)
        for key, value in credentials.items():
            self._env[ENV_VARS[key]] = value
        self._stderr = stderr
        self._proc = None
        self.url = ""
        self.huawei = {}
        self.tencent = {}

    def start(self, timeout=120):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self._env["PYTHONPATH"] = root + os.pathsep + self._env.get("PYTHONPATH", "")
        self._proc = subprocess.Popen(
            self._args, stdout=subprocess.PIPE, stderr=self._stderr or subprocess.DEVNULL, env=self._env, text=True
        )
        line = self._proc.stdout.readline()
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"fakecloud did not start: {line!r}")
        self.url = line.split("listening on ", 1)[1].split()[0]
        state = self.state()
        hw, tc = state["huawei"], state["tencent"]
        self.huawei = {
            "ak": hw["ak"],
            "sk": self._secret("huawei_sk"),
            "project_id": hw["project_id"],
            "token": self._secret("huawei_token"),
            "region": hw["region"],
            "iam_domain": hw["iam_domain"],
            "iam_user": hw["iam_user"],
            "iam_password": self._secret("huawei_iam_password"),
        }
        self.tencent = {
            "secret_id": tc["secret_id"],
            "secret_key": self._secret("tencent_secret_key"),
            "bucket": tc["bucket"],
            "queue_id": tc["queue_id"],
            "region": tc["region"],
            "token": self._secret("tencent_token"),
        }
        return self

    def _secret(self, key):
        from .defaults import DEFAULTS

        return self._env.get(ENV_VARS[key]) or DEFAULTS[key]

    def stop(self):
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _control(self, method, path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

"""python -m fakecloud --port P [--host 127.0.0.1] [--jobs N] [--seed S] [--speed X] ...

Credentials: each flag falls back to an environment variable (FAKECLOUD_HUAWEI_SK, ...) and
then to the demo default in fakecloud/defaults.py, so secrets need not appear in argv.
"""

import argparse
import os
import sys

from . import defaults, faults
from .clock import parse_time_ms
from .ratelimit import parse_rps
from .server import App, Server, stderr_log


def build_parser():
    p = argparse.ArgumentParser(prog="python -m fakecloud", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=defaults.HOST, help="bind address (keep it on loopback)")
    p.add_argument("--port", type=int, default=defaults.PORT, help="0 picks a free port")
    p.add_argument("--jobs", type=int, default=defaults.JOBS, help="jobs per kind at the start")
    p.add_argument("--seed", type=int, default=defaults.SEED)
    p.add_argument(
        "--speed", type=float, default=defaults.SPEED, help="virtual seconds per real second (0 freezes the clock)"
    )
    p.add_argument("--start", help="virtual start time, RFC 3339 or epoch ms (default: now)")
    p.add_argument("--short-jobs", type=int, help="pre-generated short jobs (default: min(jobs, 50))")
    p.add_argument("--arrivals", type=int, help="jobs per kind created after the start (default: jobs/20)")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND:key=value,...",
        help="inject a fault, e.g. error:op=avatar.list,after=2,count=1,status=503 (repeatable)",
    )
    p.add_argument("--latency-ms", type=int, help="shorthand for --fault latency:ms=N")
    p.add_argument(
        "--jitter-ms", type=int, help="with --latency-ms: each delay moves uniformly by up to +-N ms (never below 0)"
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help="requests a second per tenant (MetaStudio project, CI AppId), burst RPS; then the vendor's 429",
    )
    p.add_argument("--skew-seconds", type=int, help="shorthand for --fault skew:seconds=N")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    for name in defaults.ENV_VARS:
        p.add_argument(
            "--" + name.replace("_", "-"), dest=name, help=f"default: ${defaults.ENV_VARS[name]} or the demo value"
        )
    return p


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jitter_ms is not None and not args.latency_ms:
        parser.error("--jitter-ms needs --latency-ms")
    if args.jitter_ms is not None and args.jitter_ms < 0:
        parser.error("--jitter-ms must be >= 0")
    try:
        args.rate_limit = parse_rps(args.rate_limit)
    except ValueError as exc:
        parser.error(f"--rate-limit: {exc}")
    return args


def main(argv=None):
    args = parse_args(argv)
    credentials = {}
    for name, env in defaults.ENV_VARS.items():
        value = getattr(args, name)
        if value is None:
            value = os.environ.get(env)
        credentials[name] = value  # None -> the demo default
    specs = [faults.parse_cli(text) for text in args.fault]
    if args.latency_ms:
        specs.append(faults.normalise({"kind": "latency", "ms": args.latency_ms, "jitter": args.jitter_ms}))
    if args.skew_seconds:
        specs.append(faults.normalise({"kind": "skew", "seconds": args.skew_seconds}))
    start_ms = parse_time_ms(args.start) if args.start else None
    app = App(
        jobs=args.jobs,
        seed=args.seed,
        speed=args.speed,
        start_ms=start_ms,
        short_jobs=args.short_jobs,
        arrivals=args.arrivals,
        credentials=credentials,
        faults_=specs,
        rate_limit=args.rate_limit,
        log=None if args.quiet else stderr_log,
    )
    server = Server(app, args.host, args.port)
    limit = f", rate limit {args.rate_limit}/s per tenant" if args.rate_limit else ""
    print(
        f"fakecloud listening on {app.url} (jobs={args.jobs} per kind, seed={args.seed}, "
        f"speed={args.speed:g}{limit}; control API: {app.url}/_fakecloud/state)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        app.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

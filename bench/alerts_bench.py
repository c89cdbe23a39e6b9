"""Alert benchmark (run it as `bench/alerts`): what alert evaluation costs a steady-state sync,
and how long a remote failure takes to reach a webhook.

A fakecloud subprocess holds N avatar jobs (default 100,000; clock stopped, so only this bench
moves them). After a first full sync, each round changes 1 % of the jobs at the vendor (half of
them fail, half move to another moving state) and runs the incremental sync the scheduler would
run, alternately WITHOUT alert rules and WITH five rules (failed, stuck, spike, stale,
assessment) sending to a webhook receiver on loopback. Printed: the median sync time of each,
the overhead (target <= 10 %), and for the rounds with rules the time from the first remote
failure to its message at the webhook when the sync runs right after it (the scheduled case
adds up to one sync interval: target, within one interval plus 10 s).

Options: --jobs N  --rounds N (pairs, default 5)  --latency-ms N (fakecloud's per-call delay)
"""

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchdb import bench_django, make_huawei_account


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5, help="pairs of syncs (without, with rules)")
    p.add_argument("--latency-ms", type=int, default=0, help="fakecloud's delay per call (0: loopback speed)")
    p.add_argument("--seed", type=int, default=11)
    return p.parse_args(argv)


class Hook:
    def __init__(self):
        self.received = []  # (monotonic time, body)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    env = {"SYNC_DEFAULT_MAX_RPS": "1000", "CELERY_BROKER_URL": "memory://"}
    with bench_django("alerts", None, lambda data_dir: env):
        return run(args)


def run(args):
    from django.conf import settings

    from fakecloud.testing import FakeCloudProcess
    from jobs import alert_delivery, alerts, sync
    from jobs.alert_models import AlertChannel, AlertRule
    from jobs.models import ACTIVE_STATUSES
    from jobs.providers import get_provider
    from jobs.status import moving_states, unified_status

    settings.SYNC_DETAIL_BUDGET = 0
    n = args.jobs
    # The evaluation's own time, beside the difference of the sync times (which is noisier).
    evaluated = []
    evaluate = alerts.evaluate_run

    import cProfile
    import os

    profile = cProfile.Profile() if os.environ.get("PROFILE_EVALUATION") else None

    def timed_evaluate(run, now=None):
        t = time.perf_counter()
        if profile:
            profile.enable()
        try:
            return evaluate(run, now)
        finally:
            if profile:
                profile.disable()
            evaluated.append(time.perf_counter() - t)

    alerts.evaluate_run = timed_evaluate
    extra = ["--short-jobs", "0", "--arrivals", "0"]
    if args.latency_ms:
        extra += ["--latency-ms", str(args.latency_ms)]
    print(f"bench/alerts: {n:,} avatar jobs, {args.rounds} pairs of steady-state syncs with 1 % changed")
    with FakeCloudProcess(jobs=n, seed=args.seed, speed=0, extra_args=extra) as fc:
        account = make_huawei_account(fc, "bench", ["avatar_training"])
        account.full_sync_interval = 10**7  # every later sync is the incremental one
        account.save()
        t = time.perf_counter()
        first = sync.sync_account_kind(account, "avatar_training", provider=get_provider(account), full=True)
        assert first.outcome == "succeeded", sync.run_reason(first)
        print(f"  first full sync: {time.perf_counter() - t:.1f}s, {first.created:,} jobs")

        hook = Hook()
        channel = AlertChannel(name="bench-hook")
        channel.set_url(hook.url)
        channel.save()
        rules = []
        for when in AlertRule.When.values:
            r = AlertRule.objects.create(name=f"bench {when}", when=when, enabled=False)
            r.channels.set([channel])
            rules.append(r)

        # Each round: half of the changes fail moving jobs, half retry failed ones (back to a
        # moving state), so the vendor's moving set keeps its size round after round.
        states = moving_states("avatar_training")
        listed = fc.jobs("avatar")
        moving = [j["job_id"] for j in listed if unified_status("avatar_training", j["state"]) in ACTIVE_STATUSES]
        failed = [j["job_id"] for j in listed if unified_status("avatar_training", j["state"]) == "failed"]
        per_round = n // 100
        print(f"  {len(moving):,} moving and {len(failed):,} failed jobs at the vendor; {per_round:,} changes a round")
        times = {False: [], True: []}
        latencies, costs = [], []
        for i in range(args.rounds * 2):
            with_rules = i % 2 == 1
            AlertRule.objects.update(enabled=with_rules)
            half = per_round // 2
            to_fail, moving = moving[:half], moving[half:]
            to_retry, failed = failed[:half], failed[half:]
            moving += to_retry
            failed += to_fail
            fc.advance(60)
            before = len(hook.received)
            for k, (a, b) in enumerate(zip(to_fail, to_retry, strict=False)):
                fc.set_state("avatar", a, "TRAIN_FAILED")
                fc.set_state("avatar", b, states[k % len(states)])
            t_changed = time.monotonic()
            p = get_provider(account)
            evaluated.clear()
            t = time.perf_counter()
            result = sync.sync_account_kind(account, "avatar_training", provider=p)
            took = time.perf_counter() - t
            assert result.outcome == "succeeded", sync.run_reason(result)
            times[with_rules].append(took)
            if with_rules:
                costs.append(sum(evaluated))
            line = f"  round {i + 1}: {'with' if with_rules else 'without'} rules: sync {took:.2f}s, {result.updated:,} changed"
            if with_rules:
                alert_delivery.send_due()
                arrived = hook.received[before:]
                if arrived:
                    # From the last change, which is when the sync starts: the bench's own 1,000
                    # control calls are no part of the path.
                    latencies.append(arrived[0][0] - t_changed)
                    line += f"; evaluation {sum(evaluated):.3f}s; changes -> webhook {arrived[0][0] - t_changed:.2f}s"
                line += f"; {len(arrived)} message(s)"
            print(line, flush=True)
        without, with_ = statistics.median(times[False]), statistics.median(times[True])
        overhead = statistics.median(costs) / without * 100
        print(f"\n  median steady-state sync: without rules {without:.2f}s, with five rules {with_:.2f}s")
        print(
            f"  alert evaluation: median {statistics.median(costs):.3f}s a sync = {overhead:.1f} % of the sync "
            f"without rules (target <= 10 %); the syncs' difference: {(with_ - without) / without * 100:+.1f} %"
        )
        if latencies:
            worst = max(latencies)
            print(
                f"  remote change -> webhook, the sync starting right after it: median {statistics.median(latencies):.2f}s, "
                f"worst {worst:.2f}s; scheduled: + up to one sync interval "
                f"({account.active_sync_interval}s while jobs move) -> target interval + 10 s: "
                f"{'met' if worst <= 10 else 'NOT met'}"
            )
        if profile:
            import pstats

            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        ok = overhead <= 10 and latencies and max(latencies) <= 10
        print("targets met" if ok else "TARGETS MISSED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

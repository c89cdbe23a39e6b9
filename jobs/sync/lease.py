"""The account lease: one sync per account at a time.

- **Claimed** by a conditional UPDATE (free, or expired): ``claim_lease`` returns a ``Lease``.
  Every claim and every release adds one to ``CloudAccount.lease_token``, the fencing token.
- **Kept alive by time, not by progress**: a ``LeaseKeeper`` thread renews it every third of
  SYNC_LEASE_SECONDS while the sync runs, however long one vendor call or one write takes.
  So the TTL can be short (default 60 s): a sync killed with its process (kill -9, OOM, a lost
  host) frees its account within a minute, with no one to release it.
- **Fenced**: every write of a sync runs in a transaction that first checks, by an UPDATE of the
  account row, that the lease still has this owner and token (``Lease.fence``). A sync whose
  lease lapsed (its heartbeat could not reach the database in time) or was released by an
  operator (``releaselease``, the admin action) therefore writes nothing more: its transaction
  raises ``LeaseLost`` and rolls back, and the sync stops. On PostgreSQL the UPDATE also locks
  the account row until the write commits, so a new owner cannot claim in between; SQLite's
  IMMEDIATE transactions serialise all writers anyway.
- **Checked before work**: ``Lease.check()`` (no query) raises ``LeaseLost`` once the keeper saw
  the lease go, so the sync stops before its next vendor call or write.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs.models import CloudAccount, SyncRun

log = logging.getLogger(__name__)

ABANDONED = "abandoned"


class LeaseLost(Exception):
    """This sync no longer holds its account's lease: it must not write anything more."""

    code = "lease_lost"


@dataclass
class Lease:
    account_id: int
    owner: str
    token: int
    ttl: int
    # time.monotonic() by which the lease lapses unless renewed (as far as this process knows).
    valid_until: float = 0.0
    lost: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def check(self) -> None:
        """Raise LeaseLost if the lease is known lost or has not been renewed within its TTL."""
        if not self.lost.is_set() and time.monotonic() >= self.valid_until:
            self.lose("the lease was not renewed in time (the database did not answer the heartbeat)")
        if self.lost.is_set():
            raise LeaseLost(self.reason)

    def lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()

    def fence(self) -> None:
        """Inside the transaction of a write: refuse it unless this lease still holds the account."""
        self.check()
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("Lease.fence() belongs inside the write's transaction")
        held = (
            CloudAccount.objects.filter(pk=self.account_id, lease_owner=self.owner, lease_token=self.token)
            .filter(lease_until__gte=timezone.now())
            .update(lease_until=F("lease_until"))
        )
        if held != 1:
            self.lose("another sync holds this account's lease (or it was released)")
            raise LeaseLost(self.reason)


def claim_lease(account_id: int, owner: str, ttl: int | None = None) -> Lease | None:
    """Claim the account's sync lease by a conditional UPDATE; an expired lease is free."""
    now = timezone.now()
    ttl = ttl or settings.SYNC_LEASE_SECONDS
    started = time.monotonic()
    claimed = (
        CloudAccount.objects.filter(pk=account_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=ttl), lease_token=F("lease_token") + 1)
    )
    if claimed != 1:
        return None
    token = CloudAccount.objects.filter(pk=account_id, lease_owner=owner).values_list("lease_token", flat=True).first()
    if token is None:  # cannot happen within the TTL; be safe
        return None
    return Lease(account_id, owner, token, ttl, valid_until=started + ttl)


def renew_lease(account_id: int, owner: str, ttl: int | None = None, token: int | None = None) -> bool:
    """Extend the lease if ``owner`` (and ``token``) still hold it (False: it was released or
    another sync claimed it after it lapsed)."""
    ttl = ttl or settings.SYNC_LEASE_SECONDS
    until = timezone.now() + timedelta(seconds=ttl)
    qs = CloudAccount.objects.filter(pk=account_id, lease_owner=owner)
    if token is not None:
        qs = qs.filter(lease_token=token)
    return qs.update(lease_until=until) == 1


def release_lease(account_id: int, owner: str) -> None:
    """Free the lease if ``owner`` still holds it."""
    CloudAccount.objects.filter(pk=account_id, lease_owner=owner).update(
        lease_owner="", lease_until=None, lease_token=F("lease_token") + 1
    )


def force_release(account_id: int, reason: str = "the lease was released by an operator") -> tuple[str, int]:
    """Free the account's lease whoever holds it (releaselease, the admin action) and close its
    running runs. A sync still alive under it is fenced off: its next write is refused.

    Returns (the owner it had, how many running runs were closed)."""
    with transaction.atomic():
        account = CloudAccount.objects.select_for_update().filter(pk=account_id).first()
        if account is None:
            return "", 0
        owner = account.lease_owner
        CloudAccount.objects.filter(pk=account_id).update(
            lease_owner="", lease_until=None, lease_token=F("lease_token") + 1
        )
        closed = close_abandoned_runs(account_id, reason=reason)
    return owner, closed


def close_abandoned_runs(account_id: int, keep: list[int] | None = None, reason: str = "") -> int:
    """Close the account's RUNNING runs (but ``keep``): called by whoever holds the lease, or
    just freed it, so none of them can still be running. Queued runs wait for their task."""
    qs = SyncRun.objects.filter(account_id=account_id, outcome=SyncRun.Outcome.RUNNING)
    if keep:
        qs = qs.exclude(pk__in=keep)
    return qs.update(
        outcome=SyncRun.Outcome.FAILED,
        finished_at=timezone.now(),
        error_code=ABANDONED,
        error_message=reason or "the sync never finished (its worker or process stopped)",
    )


class LeaseKeeper:
    """Renews a lease every ttl/3 on a daemon thread until stopped (``with LeaseKeeper(lease):``).

    A renewal the database refuses (another owner, a release) marks the lease lost at once; one
    that fails with a database error is retried at the next beat, and the lease counts as lost
    once its TTL passes without a renewal (Lease.check)."""

    def __init__(self, lease: Lease, interval: float | None = None):
        self.lease = lease
        self.interval = interval if interval is not None else max(lease.ttl / 3, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.account_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self.lease

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def _run(self) -> None:
        lease = self.lease
        try:
            while not self._stop.wait(self.interval):
                started = time.monotonic()
                try:
                    renewed = renew_lease(lease.account_id, lease.owner, lease.ttl, token=lease.token)
                except Exception as exc:  # the database is busy or away: try again at the next beat
                    log.warning("lease heartbeat for account %s failed: %s", lease.account_id, type(exc).__name__)
                    continue
                if not renewed:
                    lease.lose("another sync holds this account's lease (or it was released)")
                    log.warning("account %s: this sync lost its lease; it stops", lease.account_id)
                    return
                lease.valid_until = started + lease.ttl
        finally:
            connection.close()  # this thread's own connection

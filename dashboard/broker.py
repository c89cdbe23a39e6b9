"""The embedded Celery broker: kombu's filesystem transport, made to redeliver what a killed
worker had taken.

kombu's own filesystem transport deletes a message file the moment a worker fetches it and
keeps the unacknowledged message in that worker's memory only: with ``acks_late`` a warm or
cold stop puts it back, but a worker killed (kill -9, OOM, power loss) loses it for good.

Here a fetched message moves to ``unacked_folder`` and stays there, under an exclusive
``flock`` held by the fetching worker, until the task is acknowledged (the file is deleted) or
rejected/restored (it goes back to the queue). The kernel drops a dead process's locks, so a
file in ``unacked_folder`` that nobody holds belongs to a worker that died: any worker polling
the queues moves it back (``redelivered`` set, as Redis and RabbitMQ do). Redelivery is
therefore at least once, and immediate after the restart, with no visibility timeout to tune.

One host only (flock does not work across NFS), like the filesystem transport itself.
"""

from __future__ import annotations

import fcntl
import os
import time
from queue import Empty

from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from kombu.utils.objects import cached_property

SWEEP_EVERY = 2.0  # seconds between looks for a dead worker's messages (a directory listing)


class QoS(virtual.QoS):
    def ack(self, delivery_tag):
        self.channel._forget(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        super().reject(delivery_tag, requeue)  # requeue: Channel._restore puts it back first
        self.channel._forget(delivery_tag)


class Channel(filesystem.Channel):
    QoS = QoS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._held = {}  # delivery tag -> (path in unacked_folder, locked file)
        self._no_ack_queues = set()
        self._next_sweep = 0.0

    @cached_property
    def unacked_folder(self):
        return self.transport_options["unacked_folder"]

    def basic_consume(self, queue, no_ack, *args, **kwargs):
        if no_ack:  # remote-control replies and the like: nobody will acknowledge them
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def _get(self, queue):
        """Take the oldest message of ``queue``: lock its file, then move it to unacked_folder."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            self._restore_orphans()
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            path = os.path.join(self.data_folder_in, name)
            held = os.path.join(self.unacked_folder, name)
            f = _lock(path)
            if f is None:  # being written, or another worker has it
                continue
            payload = f.read()
            if not payload:  # locked before its writer could: leave it for a later poll
                f.close()
                continue
            try:
                os.rename(path, held)
            except OSError:
                f.close()
                continue
            message = loads(bytes_to_str(payload))
            if queue in self._no_ack_queues:
                os.remove(held)
                f.close()
            else:
                self._held[message["properties"]["delivery_tag"]] = (held, f)
            return message
        raise Empty()

    def _forget(self, delivery_tag):
        """The message was acknowledged or handed back: drop its file."""
        path, f = self._held.pop(delivery_tag, (None, None))
        if path is not None:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            f.close()

    def _restore(self, message):
        """Back to the queue (a stop with tasks unfinished, a reject with requeue)."""
        if message.delivery_tag not in self._held:
            return super()._restore(message)
        payload = message.serializable()
        payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
        self._put(_queue_of(self._held[message.delivery_tag][0]), payload)
        self._forget(message.delivery_tag)

    def _restore_orphans(self):
        """Requeue the messages of workers that died: unacked files whose lock nobody holds."""
        for name in os.listdir(self.unacked_folder):
            path = os.path.join(self.unacked_folder, name)
            f = _lock(path)
            if f is None:  # its worker is alive (or it was just acknowledged)
                continue
            with f:
                try:
                    payload = loads(bytes_to_str(f.read()))
                except ValueError:  # empty or torn: nothing to redeliver
                    os.remove(path)
                    continue
                payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
                self._put(_queue_of(path), payload)
                os.remove(path)


class Transport(filesystem.Transport):
    Channel = Channel


def _queue_of(path):
    # Message files are named <ms>_<uuid>.<queue>.msg (kombu's filesystem transport).
    return os.path.basename(path).partition(".")[2][: -len(".msg")]


def _lock(path):
    """The file at ``path``, opened and exclusively locked, or None if it is gone or locked."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - stays open (and locked) while the message is held
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    try:
        same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        same = False
    if not same:  # moved away between our open and our lock
        f.close()
        return None
    return f

"""The sync engine (``client.sync``): push, pull and subscribe lanes as asyncio tasks.

Lanes never give up: a failed exchange backs off (jittered, capped) and retries; a new local
write, a (re)connected stream or an explicit :meth:`SyncEngine.push` cuts a push backoff short.
The transport (``httpx`` transport and auth) and the randomness are injected so the whole
engine runs against ``httpx.MockTransport`` or a fault injector in tests.

Without a server (``Client(..., server=None)``) the engine exists but stays ``offline``:
:meth:`push`, :meth:`pull` and :meth:`confirm` raise :class:`~atoma.errors.SyncError` with code
``NO_SERVER`` (asking for network work that cannot happen is a bug worth surfacing), while
:meth:`wait_idle` returns at once (there is nothing to wait for).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import msgspec

from .. import protocol as p
from ..database import meta_get, meta_set
from ..errors import ClientClosed, ConflictError, RejectedError, SyncError
from ..events import (
    Event,
    OutboxEnqueued,
    SubscribeConnected,
    SubscribeLost,
    SubscribeNotified,
    SyncBackoff,
    SyncStatusChanged,
)
from ..ids import new_key
from .backoff import Backoff
from .batching import DEFAULT_BATCH_SIZE, select_batch
from .pull import CursorExpired, Puller
from ..conflicts import MergeFallback, Strategy
from .conflict_inbox import ConflictInbox
from .push import Pusher, PushRound
from .rows import get_cursor, iter_unsettled
from .state import Signal, SyncStatus, transition
from .transport import Transport

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["SyncEngine", "SyncOptions"]

log = logging.getLogger("atoma.sync")
T = TypeVar("T")


class SyncOptions(msgspec.Struct, kw_only=True, frozen=True):
    """Tuning of the sync engine (``atoma.Client(..., sync_options=SyncOptions(...))``).

    Times are in seconds. ``heartbeat_interval`` is the server's heartbeat period: a stream
    silent for 2.5 times that long is treated as lost. ``poll_interval`` is the periodic pull
    used while the stream is unavailable. ``resources`` defaults to every schema resource.
    ``keep_acked`` acked intents are kept for the inspector and :meth:`SyncEngine.confirm`
    (older ones are deleted).
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    pull_page_size: int = 500
    poll_interval: float = 30.0
    heartbeat_interval: float = 15.0
    debounce: float = 0.05
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    request_timeout: float = 30.0
    subscribe: bool = True
    resources: tuple[str, ...] | None = None
    keep_acked: int = 1000
    confirm_timeout: float = 30.0


class SyncEngine:
    """``client.sync``: status, control (:meth:`push`, :meth:`pull`, :meth:`wait_idle`) and
    strict confirmation (:meth:`confirm`, :meth:`confirmed`)."""

    def __init__(
        self,
        client: "Client",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        options: SyncOptions | None = None,
        rand: Callable[[], float] = random.random,
        conflict_strategy: Strategy = "server-wins",
        conflict_strategies: Mapping[str, Strategy] | None = None,
        merge_fallback: MergeFallback = "manual",
    ) -> None:
        self._client = client
        #: The conflict inbox: ``list()``, ``get(id)``, ``resolve(id, resolution)``, ``check(id)``.
        self.conflicts = ConflictInbox(client, conflict_strategy, conflict_strategies, merge_fallback)
        self.options = options or SyncOptions()
        self._http_transport = transport
        self._rand = rand
        self._transport: Transport | None = None
        self._pusher: Pusher | None = None
        self._puller: Puller | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._state: str = "offline"
        self._status = SyncStatus()
        self._last_error: dict[str, Any] | None = None
        self._last_sync_ms: int | None = None
        self._stream_up = False
        self._push_wake = asyncio.Event()
        self._pull_wake = asyncio.Event()
        self._push_lock = asyncio.Lock()
        self._pull_lock = asyncio.Lock()
        self._progress = asyncio.Event()
        self._push_busy = False
        self._pull_busy = False
        self._discarded: set[int] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False
        self._push_paused = False
        self._work_offline = False

    # -- status ---------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether a server is configured."""
        return self._client.server is not None

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    @property
    def transport(self) -> Transport:
        """The running engine's HTTP transport (remote reads, :mod:`atoma.remote`, use it).

        Raises :class:`~atoma.errors.SyncError` ``NO_SERVER`` without a server and
        :class:`~atoma.errors.ClientClosed` while the engine is not started."""
        if not self.enabled:
            raise SyncError(f"client for {self._client.path!r} has no server configured", code="NO_SERVER")
        if self._transport is None:
            raise ClientClosed("sync is not running; call `await client.start()` first")
        return self._transport

    @property
    def status(self) -> SyncStatus:
        """The current :class:`~atoma.sync.SyncStatus` (state, cursor, counts, last error...)."""
        if self._client.is_open:
            self._refresh(emit=False)
        return self._status

    def _refresh(self, emit: bool = True) -> None:
        if not self._client.is_open:
            return
        conn = self._client._connection()
        counts = dict.fromkeys(("pending", "in_flight", "rejected"), 0)
        for state, n in conn.execute("SELECT state, count(*) FROM atoma_outbox WHERE state != 'acked' GROUP BY state"):
            if state in counts:
                counts[state] = n
        # "conflicted" counts what waits for a decision: open conflicts in the inbox.
        counts["conflicted"] = conn.execute("SELECT count(*) FROM atoma_conflicts WHERE state = 'open'").fetchone()[0]
        status = SyncStatus(
            state=self._state,  # type: ignore[arg-type]
            cursor=get_cursor(conn),
            last_error=self._last_error,
            last_sync_ms=self._last_sync_ms,
            stream=self._stream_up,
            **counts,
        )
        if status != self._status:
            self._status = status
            if emit and self._client.events.wants("sync.status"):
                self._client.events.emit(SyncStatusChanged(status=status))

    def _signal(self, signal: Signal, error: dict[str, Any] | None = None) -> None:
        self._state = transition(self._state, signal)  # type: ignore[arg-type]
        if signal == "ok":
            self._last_error = None
            self._last_sync_ms = self._client._now_ms()
        elif error is not None:
            self._last_error = error
        self._refresh()

    def _emit(self, event: Event) -> None:
        self._client.events.emit(event)
        self._pulse()

    def _pulse(self) -> None:
        # Wake every waiter (confirm, wait_idle) so it re-checks; a fresh Event for the next round.
        self._progress.set()
        self._progress = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the lanes (called by ``Client.start()`` when a server is configured)."""
        if not self.enabled or self._tasks:
            return
        client = self._client
        conn = client._connection()
        with conn:
            device_id = meta_get(conn, "sync.device_id")
            if device_id is None:
                device_id = new_key()
                meta_set(conn, "sync.device_id", device_id)
        # Fresh primitives: a client may be started again under another event loop.
        self._push_wake, self._pull_wake, self._progress = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._push_lock, self._pull_lock = asyncio.Lock(), asyncio.Lock()
        self._stopping = False
        o = self.options
        assert client.server is not None
        self._transport = Transport(client.server, transport=self._http_transport, auth=client.auth, timeout=o.request_timeout)
        resources = list(o.resources) if o.resources is not None else [r.name for r in client.schema]
        self._pusher = Pusher(
            client._connection, self._transport, self._emit, client._now_ms,
            batch_size=o.batch_size, conflicts=self.conflicts, device_id=device_id, keep_acked=o.keep_acked,
        )
        self._puller = Puller(
            client._connection, self._transport, self._emit, resources, page_size=o.pull_page_size, device_id=device_id,
            on_overlap=self.conflicts.on_pull, now_ms=client._now_ms,
        )
        self._pusher.recover()
        self._unsubscribe = client.events.subscribe(self._on_local_write, ["outbox.enqueued"])
        self._signal("start")
        self._push_wake.set()
        self._pull_wake.set()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._push_loop(), name="atoma-push"),
            loop.create_task(self._pull_loop(), name="atoma-pull"),
        ]
        if o.subscribe:
            self._tasks.append(loop.create_task(self._subscribe_loop(resources), name="atoma-subscribe"))

    async def stop(self) -> None:
        """Cancel the lanes and close the HTTP client; in-flight intents go back to pending."""
        tasks, self._tasks = self._tasks, []
        self._stopping = True
        # Python 3.11's wait_for can swallow a cancellation that coincides with its timeout
        # or its inner future finishing (fixed in 3.12); the lanes also check _stopping, and
        # cancellation is repeated until every lane has ended.
        pending = set(tasks)
        for _ in range(100):
            if not pending:
                break
            for t in pending:
                t.cancel()
            self._push_wake.set()
            self._pull_wake.set()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.error("sync lane %s failed", t.get_name(), exc_info=t.exception())
        self._stop_common()
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    def stop_nowait(self) -> None:
        """Cancel the lanes without awaiting them (for ``close_sync()`` outside the loop)."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        self._stop_common()
        self._transport = None

    def _stop_common(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stream_up = False
        if self._pusher is not None and self._client.is_open:
            self._pusher.recover()
        self._state = "offline"
        if self._client.is_open:
            self._refresh()
        self._pulse()

    def _on_local_write(self, event: Event) -> None:
        if isinstance(event, OutboxEnqueued):
            self._push_wake.set()
            self._refresh()

    # -- waiting helpers --------------------------------------------------------------------

    @staticmethod
    async def _wait_event(event: asyncio.Event, timeout: float | None) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds; True if it was set."""
        if timeout is not None and timeout <= 0:
            return event.is_set()
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _until(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"{what}: not done within {timeout} s")
            progress = self._progress
            # Re-check at least every 0.25 s: some progress (a local write) pulses nothing.
            await self._wait_event(progress, 0.25 if remaining is None else min(0.25, remaining))

    # -- lanes ------------------------------------------------------------------------------

    def _need_running(self) -> None:
        if not self.enabled:
            raise SyncError(f"client for {self._client.path!r} has no server configured; nothing to sync", code="NO_SERVER")
        if not self._tasks or self._pusher is None:
            raise ClientClosed("sync is not running; call `await client.start()` first")

    async def _push_round(self) -> PushRound:
        assert self._pusher is not None
        async with self._push_lock:
            self._push_busy = True
            try:
                return await self._pusher.push_once()
            finally:
                self._push_busy = False
                self._pulse()

    async def _push_loop(self) -> None:
        backoff = Backoff(base=self.options.backoff_base, cap=self.options.backoff_cap, rand=self._rand)
        while not self._stopping:
            await self._push_wake.wait()
            self._push_wake.clear()
            while not self._stopping and not self._push_paused:
                try:
                    rnd = await self._push_round()
                except SyncError as exc:
                    err = (exc.details or {}).get("error") or {"code": exc.code, "message": exc.message, "kind": "internal"}
                    await self._back_off("push", backoff, err, self._push_wake)
                    continue
                if rnd.sent == 0:
                    break
                self._signal("ok")
                if rnd.error is not None and rnd.acked == 0:
                    # Only retryable item errors (e.g. ADAPTER): the server is struggling.
                    await self._back_off("push", backoff, rnd.error, self._push_wake)
                else:
                    backoff.reset()
            self._refresh()
            self._pulse()

    async def _back_off(self, lane: str, backoff: Backoff, error: dict[str, Any] | None, wake: asyncio.Event) -> None:
        delay = backoff.next()
        self._signal("fail", error)
        self._emit(SyncBackoff(lane=lane, delay_s=delay, attempt=backoff.attempt, error=error))
        woken = await self._wait_event(wake, delay)
        if woken:
            wake.clear()
            backoff.reset()  # a write, a reconnect or push(): retry at once, from a short step
        self._signal("retry")

    async def _pull_round(self) -> int:
        assert self._puller is not None
        async with self._pull_lock:
            self._pull_busy = True
            try:
                try:
                    return await self._puller.pull_once()
                except CursorExpired as exc:
                    # Push first so the snapshot already holds our own writes, then rebuild.
                    await self._drain_push()
                    await self._puller.resync(exc.min_cursor)
                    return await self._puller.pull_once()
            finally:
                self._pull_busy = False
                self._pulse()

    async def _drain_push(self) -> None:
        for _ in range(10_000):
            rnd = await self._push_round()
            if rnd.sent == 0 or rnd.acked + rnd.conflicted + rnd.rejected == 0:
                return

    async def _pull_loop(self) -> None:
        backoff = Backoff(base=self.options.backoff_base, cap=self.options.backoff_cap, rand=self._rand)
        while not self._stopping:
            timeout = None if self._stream_up else self.options.poll_interval
            await self._wait_event(self._pull_wake, timeout)  # a notify, a connect, or the poll period
            self._pull_wake.clear()
            if self.options.debounce > 0:
                await asyncio.sleep(self.options.debounce)  # coalesce a burst of notifications
                self._pull_wake.clear()
            while not self._stopping:
                try:
                    await self._pull_round()
                except SyncError as exc:
                    err = (exc.details or {}).get("error") or {"code": exc.code, "message": exc.message, "kind": "internal"}
                    await self._back_off("pull", backoff, err, self._pull_wake)
                    continue
                backoff.reset()
                self._signal("ok")
                break

    async def _subscribe_loop(self, resources: list[str]) -> None:
        assert self._transport is not None
        backoff = Backoff(base=self.options.backoff_base, cap=self.options.backoff_cap, rand=self._rand)
        silence = 2.5 * self.options.heartbeat_interval
        last_id: str | None = None
        retry_ms: int | None = None
        while not self._stopping:
            if last_id is None and self._client.is_open:
                cursor = get_cursor(self._client._connection())
                last_id = str(cursor) if cursor else None
            reason = "closed by the server"
            failed: dict[str, Any] | None = None
            try:
                async with self._transport.subscribe(resources, last_id) as stream:
                    self._stream_up = True
                    backoff.reset()
                    self._signal("ok")
                    self._emit(SubscribeConnected(last_event_id=last_id))
                    # A (re)connect means the server is back: pull what we missed, push at once.
                    self._pull_wake.set()
                    self._push_wake.set()
                    while not self._stopping:
                        ev = await stream.next_event(silence)
                        if ev is None:
                            break
                        if ev.retry is not None:
                            retry_ms = ev.retry
                        if ev.event == "sync.notify":
                            try:
                                payload = p.decode_notify(ev.data)
                            except Exception:  # noqa: BLE001 - a bad frame is still a hint to pull
                                payload = p.NotifyPayload(resources=[], cursor=0)
                            last_id = ev.id or str(payload.cursor)
                            self._emit(SubscribeNotified(resources=tuple(payload.resources), cursor=payload.cursor))
                            self._pull_wake.set()
            except TimeoutError:
                reason = f"silent for more than {silence:g} s (no heartbeat)"
            except SyncError as exc:
                reason = exc.message
                failed = (exc.details or {}).get("error")
            finally:
                was_up, self._stream_up = self._stream_up, False
            self._emit(SubscribeLost(reason=reason))
            if was_up:
                self._signal("lost")
            elif failed is not None:
                self._signal("fail", failed)
            self._pull_wake.set()  # re-arm the pull lane in periodic mode
            delay = backoff.next(floor=(retry_ms or 0) / 1000)
            self._emit(SyncBackoff(lane="subscribe", delay_s=delay, attempt=backoff.attempt, error=failed))
            await asyncio.sleep(delay)

    # -- control ----------------------------------------------------------------------------

    @property
    def push_paused(self) -> bool:
        """Whether the push lane is paused (local writes keep queueing durably)."""
        return self._push_paused

    def pause_push(self) -> None:
        """Stop sending intents until :meth:`resume_push`; pulls and the stream go on.
        An explicit :meth:`push` still sends."""
        self._push_paused = True
        self._refresh()

    def resume_push(self) -> None:
        """Send queued intents again, at once."""
        self._push_paused = False
        self._push_wake.set()
        self._refresh()

    @property
    def offline(self) -> bool:
        """Whether the user chose to work offline (:meth:`set_offline`)."""
        return self._work_offline

    async def set_offline(self, offline: bool) -> None:
        """Work offline (no network at all; writes stay local and durable) or go online again.

        The sync lock stays held either way: this process still owns the database.
        """
        if offline == self._work_offline:
            return
        self._work_offline = offline
        if offline:
            await self.stop()
        elif self._client.is_open:
            await self.start()
        self._refresh()

    async def push(self) -> PushRound:
        """Push now, until nothing more can be sent; returns the totals. Cuts a backoff short;
        raises SyncError if a request fails (the lane keeps retrying in the background)."""
        self._need_running()
        self._push_wake.set()
        total = PushRound()
        while True:
            rnd = await self._push_round()
            for f in ("sent", "acked", "conflicted", "rejected", "retry"):
                setattr(total, f, getattr(total, f) + getattr(rnd, f))
            total.seqs += rnd.seqs
            if rnd.sent == 0:
                self._signal("ok")
                return total
            if rnd.acked + rnd.conflicted + rnd.rejected == 0 and rnd.retry:
                total.error = rnd.error
                return total

    async def pull(self) -> int:
        """Pull now, until caught up; returns the number of changes applied. Raises SyncError."""
        self._need_running()
        n = await self._pull_round()
        self._signal("ok")
        return n

    def _idle(self) -> bool:
        if self._push_busy or self._pull_busy or self._pull_wake.is_set():
            return False
        conn = self._client._connection()
        rows = iter_unsettled(conn)
        try:
            sendable = select_batch(rows, 1)
        finally:
            rows.close()
        return not sendable

    async def wait_idle(self, timeout: float | None = 30.0) -> None:
        """Wait until nothing can be pushed and no pull is due or running (rejected intents
        and their entities' later intents do not count: they wait for the app). Raises
        ``TimeoutError``."""
        if not self.enabled:
            return
        self._need_running()
        await self._until(self._idle, timeout, "wait_idle")

    # -- strict confirmation ----------------------------------------------------------------

    def _verdict(self, seq: int) -> bool:
        """True when ``seq`` is acked; raises for a bad outcome; False while undecided."""
        it = self._client.outbox.get(seq)
        if it is None:
            if seq in self._discarded:
                raise RejectedError(f"intent {seq} was discarded", code="DISCARDED", details={"seq": seq})
            return True  # acked, then trimmed from the outbox
        if it.state == "acked":
            return True
        if it.state == "rejected":
            err = it.last_error or {}
            raise RejectedError(
                f"the server rejected intent {seq}: {err.get('code')}: {err.get('message')}",
                resource=it.resource, entity_id=it.entity_id, code=str(err.get("code") or "REJECTED"), details={"seq": seq, "error": err},
            )
        if it.state == "conflicted":
            err = it.last_error or {}
            row = self._client.store(it.resource).get(it.entity_id)
            raise ConflictError(
                f"intent {seq} conflicted with a newer server version ({err.get('message')})",
                resource=it.resource, entity_id=it.entity_id, details={"seq": seq, "error": err},
                current_value=None if row is None else msgspec.to_builtins(row),
                current_version=None if row is None else row.version,
            )
        return False

    async def confirm(self, seqs: int | Iterable[int], *, timeout: float | None = None) -> None:
        """Wait until the server acknowledged the intents ``seqs`` (outbox sequence numbers).

        Raises :class:`~atoma.errors.RejectedError` if one was rejected (it stays in the
        outbox as ``rejected``), :class:`~atoma.errors.ConflictError` if one met a newer
        server version (server-wins applied), ``TimeoutError`` after ``timeout`` seconds
        (default ``options.confirm_timeout``; the intents stay queued and will still be sent).
        """
        if not self.enabled:
            raise SyncError("cannot confirm writes: no server configured", code="NO_SERVER")
        wanted = [seqs] if isinstance(seqs, int) else list(seqs)
        timeout = self.options.confirm_timeout if timeout is None else timeout
        self._push_wake.set()
        await self._until(lambda: all(self._verdict(s) for s in wanted), timeout, f"confirm {wanted}")

    async def confirmed(self, write: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        """Run a local write and wait for the server's verdict on it; return the write's result.

        ``t = await client.sync.confirmed(tasks.add, {"title": "Pay rent"})`` -- the write is
        local and durable at once (as usual); this coroutine resolves on the server's ack and
        raises RejectedError / ConflictError / TimeoutError as :meth:`confirm` does.
        """
        if not self.enabled:
            raise SyncError("cannot confirm writes: no server configured", code="NO_SERVER")
        seqs: list[int] = []

        def collect(ev: Event) -> None:
            if isinstance(ev, OutboxEnqueued):
                seqs.extend(ev.seqs)

        unsubscribe = self._client.events.subscribe(collect, ["outbox.enqueued"])
        try:
            result = write(*args, **kwargs)
            if isinstance(result, Awaitable):
                result = await result  # type: ignore[assignment]
        finally:
            unsubscribe()
        if seqs:
            await self.confirm(seqs, timeout=timeout)
        return result

    def _discarded_seqs(self, seqs: Iterable[int]) -> None:
        self._discarded.update(seqs)
        self._pulse()

    def _wake_push(self) -> None:
        self._push_wake.set()
        if self._client.is_open:
            self._refresh()
        self._pulse()

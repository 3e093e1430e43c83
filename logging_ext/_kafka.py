"""Ship rendered records to Kafka without ever blocking the application.

The application thread only appends to a bounded queue. A daemon thread with its own event
loop and an aiokafka producer (``acks="all"``) drains it in batches: one message per record,
key = the trace ID, headers ``traceparent`` and ``content-type``. Records go to partitions
the way Kafka's default partitioner places keys (murmur2), so every log of a trace lands in
one partition whichever producer wrote it.

Accounting is exact: every record handed to :meth:`KafkaSender.submit` ends up counted once
as ``sent`` (acknowledged by all in-sync replicas), ``dropped`` (never handed to Kafka: the
queue was full, the sender closed, or Kafka stayed unreachable until the close deadline) or
``failed`` (Kafka refused it, it could not be made a Kafka message, or it was still in
flight at the close deadline). Trouble is reported on stderr at most once per
``warn_interval`` per kind, never through ``logging``.

Outages do not cost records: what the producer would not take, or gave up on after its
``request_timeout_ms`` with a retriable error, goes back to the head of the queue and is
sent once Kafka answers again. The queue bound (``queue_size``) counts the records in
flight too, so that room is always there; only a full queue drops. ``flush_timeout`` bounds
shutdown only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import inspect
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from logging_ext._fields import RENDER_ERROR
from logging_ext._formatter import ECSFormatter
from logging_ext._notice import Notice
from logging_ext._render import safe_repr, safe_str
from logging_ext._trace import TraceStamp, record_trace, traceparent
from tracelink.backoff import backoff_delay
from tracelink.errors import ConfigError
from tracelink.kafka_security import KafkaSecurity, check_connection
from tracelink.topics import check_topic_name

__all__ = ["DEFAULT_QUEUE_SIZE", "KafkaHandler", "KafkaSender"]

DEFAULT_QUEUE_SIZE: Final = 50_000
_TAKE_MAX = 4096  # records moved from the queue per round
_LINGER_S = 0.005  # after an idle period, wait this long so the first batch is not tiny
_IDLE_POLL_S = 1.0
_CONNECT_TIMEOUT_S = 10.0
_BACKOFF_MIN_S = 0.25
_BACKOFF_MAX_S = 30.0
_PARTITIONS_REFRESH_S = 30.0
_PARTITION_CACHE_MAX = 4096

# Room for key, headers and record framing within max_request_size.
_MESSAGE_OVERHEAD: Final = 512

_CONTENT_TYPE: Final = ("content-type", b"application/json")
_PLAIN_HEADERS: Final = [_CONTENT_TYPE]

_PRODUCER_DEFAULTS: Final[Mapping[str, Any]] = {
    "acks": "all",
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
    "request_timeout_ms": 30_000,
    "client_id": "logging_ext",
}

_QueueItem = tuple[bytes, TraceStamp | None]
# (partition, key, value, headers, the queued record it came from)
_Message = tuple[int, bytes | None, bytes, list[tuple[str, bytes]], _QueueItem]


def resolve_security(kafka_security: KafkaSecurity | None) -> KafkaSecurity:
    """``kafka_security``, else the ``TRACELINK_KAFKA_*`` variables (as the shipper reads
    them); a bad variable is a ``ValueError`` naming it."""
    if kafka_security is not None:
        return kafka_security
    try:
        return KafkaSecurity.from_env()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _producer_kwargs(
    bootstrap_servers: str | Sequence[str],
    producer_config: Mapping[str, Any] | None,
    security: KafkaSecurity,
) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    # Explicit producer_config wins over the security settings (an escape hatch).
    kwargs = {**_PRODUCER_DEFAULTS, **security.client_kwargs(), **(producer_config or {})}
    kwargs["bootstrap_servers"] = bootstrap_servers
    for forbidden in ("key_serializer", "value_serializer", "loop"):
        if forbidden in kwargs:
            raise ValueError(f"producer_config must not set {forbidden!r}")
    try:
        inspect.signature(AIOKafkaProducer).bind_partial(**kwargs)
    except TypeError as exc:
        raise ValueError(f"invalid producer_config: {exc}") from None
    return kwargs


def _compact(line: bytes) -> bytes:
    """A right-sized copy: orjson's output keeps its whole working buffer (4 KiB and more)
    allocated, which would multiply what a full queue holds."""
    try:
        return line.decode("utf-8").encode("utf-8")
    except UnicodeDecodeError:
        return bytes(memoryview(line))


def shrink_record(line: bytes, limit: int) -> bytes | None:
    """``line`` (one JSON record) cut down to at most ``limit`` bytes, or ``None``.

    Kafka refuses messages above ``max_request_size``; rather than lose such a record, its
    longest string values (a huge message, a stack trace, a payload in an extra) are
    truncated and ``tracelink.render_error`` says so.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    record[RENDER_ERROR] = f"truncated from {len(line)} bytes to fit Kafka's max_request_size"
    for _ in range(8):
        encoded = orjson.dumps(record)
        excess = len(encoded) - limit
        if excess <= 0:
            return encoded
        key, value = max(
            ((k, v) for k, v in record.items() if isinstance(v, str) and k != RENDER_ERROR),
            key=lambda item: len(item[1].encode()),
            default=(None, ""),
        )
        if key is None or not value:
            return None
        keep = max(0, len(value) - excess - 64)
        record[key] = value[:keep] + "…[truncated]"
    return None


def _describe(exc: BaseException) -> str:
    text = safe_str(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}"


def _validate_bootstrap(bootstrap_servers: str | Sequence[str]) -> list[str]:
    if isinstance(bootstrap_servers, str):
        servers = [part.strip() for part in bootstrap_servers.split(",") if part.strip()]
    else:
        servers = [str(part).strip() for part in bootstrap_servers if str(part).strip()]
    if not servers:
        raise ValueError("kafka bootstrap servers must name at least one host:port")
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"kafka bootstrap server {server!r} is not host:port")
    return servers


def _retriable(error: BaseException) -> bool:
    """Whether Kafka may still take the records later: what aiokafka marks retriable (a lost
    connection, a leader election, a request timeout) and its own timeouts."""
    from aiokafka.errors import KafkaTimeoutError  # only ever called on a failure

    return bool(getattr(error, "retriable", False)) or isinstance(error, KafkaTimeoutError)


class KafkaSender:
    """The queue and background sender behind :class:`KafkaHandler` and ``configure_logging``.

    Thread-safe; :meth:`submit` never blocks and never raises. Survives ``os.fork()``: the
    child starts with an empty queue, zero counters and a fresh sender thread on first use
    (records the parent had queued stay the parent's to send).
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        topic: str = "logs",
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        flush_timeout: float = 5.0,
        producer_config: Mapping[str, Any] | None = None,
        warn_interval: float = 30.0,
        kafka_security: KafkaSecurity | None = None,
    ) -> None:
        if not isinstance(topic, str) or not topic.strip():
            raise ValueError("kafka topic must be a non-empty string")
        # One topic: a TRACELINK_LOG_TOPIC list is the shipper's (producers take its first).
        check_topic_name(topic)
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a positive integer, got {queue_size!r}")
        if not math.isfinite(flush_timeout) or flush_timeout < 0:
            raise ValueError(f"flush_timeout must be a finite number ≥ 0, got {flush_timeout!r}")
        self.bootstrap_servers = _validate_bootstrap(bootstrap_servers)
        self.topic = topic
        self.queue_size = queue_size
        self.flush_timeout = flush_timeout
        self.security = resolve_security(kafka_security)
        self._producer_kwargs = _producer_kwargs(
            self.bootstrap_servers, producer_config, self.security
        )
        self._max_request_size = int(self._producer_kwargs.get("max_request_size", 1_048_576))
        self._warn_interval = warn_interval
        self._closed = False
        self._init_state()
        _track(self)

    def _init_state(self) -> None:
        # Reentrant: a signal handler may log, or close, while this thread is in submit().
        self._lock = threading.RLock()
        self._queue: deque[_QueueItem] = deque()
        self._accepted = 0
        self._sent = 0
        self._dropped = 0
        self._failed = 0
        self._discarded = 0  # accepted, then dropped at close: part of `dropped`
        self._in_flight = 0
        self._delivered_all = asyncio.Event()  # in_flight reached zero (used on the loop)
        self._finalized = False
        self._thread: threading.Thread | None = None
        self._thread_ident: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._idle = False
        self._stopping = False
        self._deadline = math.inf
        self._last_error = ""
        self._notice = Notice(self._warn_interval)
        self._partition_cache: dict[str, int] = {}
        self._partitions: list[int] = []
        self._partitions_at = -math.inf
        self._sticky = 0

    # -- counters ---------------------------------------------------------------------------

    @property
    def sent(self) -> int:
        """Records acknowledged by Kafka."""
        return self._sent

    @property
    def dropped(self) -> int:
        """Records never handed to Kafka (queue full, closed, unreachable until the deadline)."""
        return self._dropped

    @property
    def failed(self) -> int:
        """Records Kafka refused, that could not be Kafka messages, or in flight at close."""
        return self._failed

    @property
    def queued(self) -> int:
        """Records waiting in the queue right now."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def is_sender_thread(self) -> bool:
        """Whether the caller runs on the sender's own thread (its client's logs stay out)."""
        return threading.get_ident() == self._thread_ident

    # -- application side -------------------------------------------------------------------

    def submit(self, line: bytes, stamp: TraceStamp | None) -> None:
        """Queue one rendered record; drop and count it when the queue is full or closed."""
        if threading.get_ident() == self._thread_ident:
            return  # the producer's own logs: sending them would feed back into the sender
        accepted = False
        # Records handed to the producer count against the bound too: the ones Kafka does not
        # acknowledge come back to the queue (see _delivered), which then still fits.
        if not self._closed and len(self._queue) + self._in_flight < self.queue_size:
            item = (_compact(line), stamp)
            with self._lock:
                if not self._closed and len(self._queue) + self._in_flight < self.queue_size:
                    self._queue.append(item)
                    self._accepted += 1
                    accepted = True
        if not accepted:
            with self._lock:
                self._dropped += 1
            if self._notice.due("dropped"):
                self._warn_dropped()
            return
        if self._thread is None:
            self._start()
        elif self._idle:
            self._wake()

    def _warn_dropped(self) -> None:
        if self._closed:
            reason = "the sender is closed"
        else:
            reason = f"the queue is full ({self.queue_size})"
        detail = f"; last Kafka error: {self._last_error}" if self._last_error else ""
        self._notice.warn(
            "dropped",
            f"dropping log records because {reason}: {self._dropped} dropped so far "
            f"(kafka {','.join(self.bootstrap_servers)}, topic {self.topic!r}){detail}",
        )

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(
                target=self._thread_main, name="logging_ext-kafka-sender", daemon=True
            )
            self._thread = thread
        try:
            thread.start()
        except RuntimeError as exc:  # no threads left, or the interpreter is shutting down
            self._closed = True
            self._notice.warn("crashed", f"cannot start the Kafka sender: {_describe(exc)}")
            self._finalize()

    def _wake(self) -> None:
        self._idle = False
        loop, event = self._loop, self._wakeup
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(event.set)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every accepted record is sent or failed; False on timeout."""
        limit = self.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, limit)
        self._wake()
        while True:
            if self._accepted == self._sent + self._failed + self._discarded:
                return True
            if time.monotonic() >= deadline or self._finalized:
                return self._accepted == self._sent + self._failed + self._discarded
            time.sleep(0.005)

    def close(self, timeout: float | None = None) -> None:
        """Flush what is queued within ``timeout`` (default ``flush_timeout``), then stop.

        Idempotent. Records still queued at the deadline count as dropped, records still in
        flight as failed. Records submitted afterwards are dropped.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        limit = self.flush_timeout if timeout is None else max(0.0, timeout)
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._finalize()
            return
        self._deadline = time.monotonic() + limit
        self._stopping = True
        self._wake()
        thread.join(limit + 2.0)
        # A sender stuck beyond its deadline is abandoned (daemon thread); count its records.
        self._finalize()

    def _finalize(self) -> None:
        with self._lock:
            if self._finalized:
                return
            self._finalized = True
            leftover = len(self._queue)
            self._queue.clear()
            self._dropped += leftover
            self._discarded += leftover
            self._failed += self._in_flight
            self._in_flight = 0
        if leftover:
            self._notice.warn(
                "closed",
                f"{leftover} log records were still queued for Kafka at close and are dropped"
                + (f"; last Kafka error: {self._last_error}" if self._last_error else ""),
            )

    # -- fork -------------------------------------------------------------------------------

    def _reset_in_child(self) -> None:
        self._init_state()

    # -- sender thread ----------------------------------------------------------------------

    def _thread_main(self) -> None:
        self._thread_ident = threading.get_ident()
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported, and the records are counted
            self._closed = True  # nothing would send what is submitted from now on
            self._notice.warn("crashed", f"the Kafka sender stopped: {safe_str(exc)}")
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._finalize()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        while True:
            producer = await self._connect()
            if producer is None:
                return
            try:
                if await self._pump(producer):
                    return
            finally:
                await self._stop_producer(producer)

    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by close()."""
        event = self._wakeup
        assert event is not None
        event.clear()
        if self._stopping:
            seconds = min(seconds, max(0.0, self._remaining()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _connect(self) -> Any:
        from aiokafka import AIOKafkaProducer

        attempt = 0
        while True:
            if self._stopping and (self._remaining() <= 0 or not self._queue):
                return None
            timeout = _CONNECT_TIMEOUT_S
            if self._stopping:
                timeout = min(timeout, self._remaining())
            if await self._refused(timeout):
                await self._sleep(_BACKOFF_MAX_S)
                continue
            producer = AIOKafkaProducer(**self._producer_kwargs)
            try:
                await asyncio.wait_for(producer.start(), timeout)
            except Exception as exc:  # noqa: BLE001 - any start failure means "retry later"
                await self._stop_producer(producer)
                self._unreachable(exc)
            else:
                self._last_error = ""
                return producer
            await self._sleep(backoff_delay(attempt, _BACKOFF_MIN_S, _BACKOFF_MAX_S))
            attempt += 1

    async def _refused(self, budget_s: float) -> bool:
        """Whether Kafka refuses this service (certificate, credentials): said on stderr,
        naming the setting to fix, never raised into the application. The producer alone
        would only report "unable to bootstrap", as for a broker that is down."""
        try:
            await check_connection(
                self.security,
                self.bootstrap_servers,
                connect_timeout_s=max(0.1, budget_s),
                client_id="logging_ext",
            )
        except ConfigError as exc:
            self._last_error = str(exc)
            self._notice.warn("refused", f"Kafka refuses this service: {exc}")
            return True
        except Exception:  # noqa: BLE001, S110 - unreachable: the producer's start reports it
            pass
        return False

    def _unreachable(self, exc: BaseException) -> None:
        self._last_error = _describe(exc)
        self._notice.warn(
            "unreachable",
            f"Kafka {','.join(self.bootstrap_servers)} unreachable ({self._last_error}); "
            f"{len(self._queue)} records queued, {self._dropped} dropped so far",
        )

    async def _stop_producer(self, producer: Any) -> None:
        timeout = 5.0 if not self._stopping else max(0.1, min(5.0, self._remaining()))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout)

    async def _pump(self, producer: Any) -> bool:
        """Move records from the queue into Kafka; True once stopped and drained."""
        while True:
            if time.monotonic() - self._partitions_at > _PARTITIONS_REFRESH_S:
                try:
                    await self._refresh_partitions(producer)
                except Exception as exc:  # noqa: BLE001 - metadata trouble: back off, retry
                    self._unreachable(exc)
                    if self._stopping and self._remaining() <= 0:
                        return True
                    await self._sleep(_BACKOFF_MIN_S * 4)
                    continue
            if self._stopping and self._remaining() <= 0:
                return True  # what is still queued is counted as dropped by _finalize
            items = self._take()
            if items:
                if not await self._send(producer, items):
                    if self._stopping:
                        return True  # what went back to the queue is counted as dropped
                    await self._sleep(_BACKOFF_MIN_S * 4)
                continue
            if self._stopping:
                await self._finish_in_flight(producer)
                return True
            await self._wait_for_work()

    async def _refresh_partitions(self, producer: Any) -> None:
        timeout = _CONNECT_TIMEOUT_S
        if self._stopping:
            timeout = max(0.0, min(timeout, self._remaining()))
        partitions = sorted(await asyncio.wait_for(producer.partitions_for(self.topic), timeout))
        if not partitions:
            raise RuntimeError(f"topic {self.topic!r} has no partitions")
        if partitions != self._partitions:
            self._partition_cache.clear()
            self._partitions = partitions
        self._partitions_at = time.monotonic()

    def _take(self) -> list[_QueueItem]:
        queue = self._queue
        count = min(len(queue), _TAKE_MAX)
        return [queue.popleft() for _ in range(count)]

    async def _wait_for_work(self) -> None:
        event = self._wakeup
        assert event is not None
        event.clear()
        self._idle = True
        if self._queue or self._stopping:
            self._idle = False
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), _IDLE_POLL_S)
        self._idle = False
        if not self._stopping:
            await asyncio.sleep(_LINGER_S)

    def _partition_for(self, trace_id: str) -> int:
        partition = self._partition_cache.get(trace_id)
        if partition is None:
            from aiokafka.partitioner import murmur2

            partitions = self._partitions
            # Kafka's DefaultPartitioner for keyed records: murmur2, positive, modulo count.
            partition = partitions[(murmur2(trace_id.encode()) & 0x7FFFFFFF) % len(partitions)]
            if len(self._partition_cache) >= _PARTITION_CACHE_MAX:
                self._partition_cache.clear()
            self._partition_cache[trace_id] = partition
        return partition

    async def _send(self, producer: Any, items: list[_QueueItem]) -> bool:
        """Hand ``items`` to the producer, grouped by partition; False when the producer
        would not take them (those and the rest of the round are back in the queue)."""
        groups: dict[int, list[_Message]] = {}
        partitions = self._partitions
        # Records without a trace go to one partition per round, rotating (sticky batching).
        self._sticky = (self._sticky + 1) % len(partitions)
        unkeyed = partitions[self._sticky]
        for item in items:
            message = self._message(item, unkeyed)
            if message is None:
                continue
            group = groups.get(message[0])
            if group is None:
                groups[message[0]] = [message]
            else:
                group.append(message)
        ordered = list(groups.items())
        for index, (partition, group) in enumerate(ordered):
            left = await self._send_partition(producer, partition, group)
            if left:
                later = [message[4] for _, rest in ordered[index + 1 :] for message in rest]
                self._requeue([*left, *later])
                return False
        return True

    def _message(self, item: _QueueItem, unkeyed: int) -> _Message | None:
        """``(partition, key, value, headers, item)`` for one record, or ``None`` when the
        record cannot be a Kafka message (counted as failed: it costs that record only)."""
        line, stamp = item
        try:
            if stamp is None:
                return unkeyed, None, line, _PLAIN_HEADERS, item
            trace_id = stamp[0]
            partition = self._partition_for(trace_id)
            headers = [("traceparent", traceparent(stamp).encode()), _CONTENT_TYPE]
            return partition, trace_id.encode(), line, headers, item
        except Exception as exc:  # noqa: BLE001 - a bad stamp from a custom chain: this record
            self._fail(
                1, f"a record with an unusable trace stamp {safe_repr(stamp)}: {_describe(exc)}"
            )
            return None

    async def _send_partition(
        self, producer: Any, partition: int, group: list[_Message]
    ) -> list[_QueueItem]:
        """Send ``group`` in batches; the records the producer did not take (to requeue)."""
        builder = producer.create_batch()
        batch: list[_QueueItem] = []
        limit = self._max_request_size - _MESSAGE_OVERHEAD
        for index, (_, key, line, headers, item) in enumerate(group):
            try:
                if len(line) > limit:
                    shrunk = shrink_record(line, limit)
                    if shrunk is None:
                        self._fail(1, f"a record of {len(line)} bytes exceeds max_request_size")
                        continue
                    line = shrunk  # noqa: PLW2901 - the record that goes out instead
                if builder.append(timestamp=None, key=key, value=line, headers=headers) is not None:
                    batch.append(item)
                    continue
                if batch:
                    if not await self._submit_batch(producer, builder, partition, batch):
                        return [*batch, *(message[4] for message in group[index:])]
                    batch = []  # handed over: whatever happens next, not these again
                    builder = producer.create_batch()
                    if (
                        builder.append(timestamp=None, key=key, value=line, headers=headers)
                        is not None
                    ):
                        batch.append(item)
                        continue
                self._fail(1, "a record does not fit into an empty batch (max_batch_size)")
            except Exception as exc:  # noqa: BLE001 - one record Kafka's encoder refused
                self._fail(1, f"a record could not be encoded: {_describe(exc)}")
        if batch and not await self._submit_batch(producer, builder, partition, batch):
            return batch
        return []

    async def _submit_batch(
        self, producer: Any, builder: Any, partition: int, batch: list[_QueueItem]
    ) -> bool:
        """Hand one batch to the producer; False (records not taken) when it would not."""
        try:
            if self._stopping:
                future = await asyncio.wait_for(
                    producer.send_batch(builder, self.topic, partition=partition),
                    max(0.0, self._remaining()),
                )
            else:
                future = await producer.send_batch(builder, self.topic, partition=partition)
        except Exception as exc:  # noqa: BLE001 - not taken: the records wait in the queue
            self._unreachable(exc)
            return False
        self._in_flight += len(batch)
        self._delivered_all.clear()
        future.add_done_callback(functools.partial(self._delivered, batch))
        return True

    def _requeue(self, items: list[_QueueItem]) -> None:
        """Put records back at the head of the queue, in order (they were accepted once)."""
        with self._lock:
            self._queue.extendleft(reversed(items))

    def _delivered(self, batch: list[_QueueItem], future: asyncio.Future[Any]) -> None:
        if self._finalized:
            return  # abandoned at close: already counted as failed
        count = len(batch)
        self._in_flight -= count
        if not self._in_flight:
            self._delivered_all.set()
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            if error is not None and not self._stopping and _retriable(error):
                # Kafka was unreachable for longer than the producer keeps a batch (its
                # request_timeout_ms): the records wait in the queue and go out again.
                self._last_error = _describe(error)
                self._requeue(batch)
                self._wake_pump()
                return
            self._fail(count, "cancelled" if error is None else _describe(error))
        else:
            self._sent += count

    def _wake_pump(self) -> None:
        event = self._wakeup
        if event is not None:
            event.set()

    def _fail(self, count: int, reason: str) -> None:
        with self._lock:
            self._failed += count
        self._last_error = reason
        self._notice.warn(
            "failed",
            f"{count} log records failed delivery to Kafka ({reason}); {self._failed} so far",
        )

    async def _finish_in_flight(self, producer: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.flush(), max(0.0, self._remaining()))
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._delivered_all.wait(), max(0.0, self._remaining()))


# -- process-wide hooks: fork and interpreter exit --------------------------------------------

_senders: weakref.WeakSet[KafkaSender] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_installed = False


def _track(sender: KafkaSender) -> None:
    global _hooks_installed  # noqa: PLW0603 - installed once per process, on first use
    with _hooks_lock:
        _senders.add(sender)
        if not _hooks_installed:
            os.register_at_fork(after_in_child=_reset_all_in_child)
            atexit.register(_close_all)
            _hooks_installed = True


def _reset_all_in_child() -> None:
    global _hooks_lock  # noqa: PLW0603 - a lock held by another thread at fork is unusable
    _hooks_lock = threading.Lock()
    for sender in list(_senders):
        sender._reset_in_child()


def _close_all() -> None:
    for sender in list(_senders):
        sender.close()


class LockFreeHandler(logging.Handler):
    """A handler whose ``emit`` is thread-safe by itself, so ``handle`` takes no lock.

    Rendering needs no lock and the sinks guard themselves: threads logging at once never
    wait for each other's rendering.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        result: object = self.filter(record)  # Python ≥ 3.12 filters may return a new record
        if isinstance(result, logging.LogRecord):
            record = result
        if result:
            self.emit(record)
        return bool(result)


class KafkaHandler(LockFreeHandler):
    """A ``logging.Handler`` that ships records to Kafka through a :class:`KafkaSender`.

    Renders with its formatter (default: :class:`~logging_ext.ECSFormatter`); ``emit`` only
    enqueues, never blocks and never raises. ``sent``/``dropped``/``failed`` count delivery;
    :meth:`drain` waits for it; :meth:`close` flushes within ``flush_timeout`` and is
    idempotent (it also runs at interpreter exit). ``kafka_security`` (TLS, SASL) defaults to
    the ``TRACELINK_KAFKA_*`` variables, as in ``configure_logging``.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        topic: str = "logs",
        *,
        formatter: logging.Formatter | None = None,
        level: int | str = logging.NOTSET,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        flush_timeout: float = 5.0,
        producer_config: Mapping[str, Any] | None = None,
        kafka_security: KafkaSecurity | None = None,
    ) -> None:
        super().__init__(level)
        self.sender = KafkaSender(
            bootstrap_servers,
            topic,
            queue_size=queue_size,
            flush_timeout=flush_timeout,
            producer_config=producer_config,
            kafka_security=kafka_security,
        )
        if formatter is None:
            formatter = ECSFormatter()
        self.setFormatter(formatter)

    @property
    def sent(self) -> int:
        return self.sender.sent

    @property
    def dropped(self) -> int:
        return self.sender.dropped

    @property
    def failed(self) -> int:
        return self.sender.failed

    def emit(self, record: logging.LogRecord) -> None:
        sender = self.sender
        if sender.is_sender_thread():
            return
        formatter = self.formatter
        if isinstance(formatter, ECSFormatter):
            line, stamp = formatter.render(record)
        else:
            try:
                line = self.format(record).encode("utf-8", "backslashreplace")
            except Exception:  # noqa: BLE001 - a foreign formatter failed: report, go on
                sender._notice.warn("format", f"formatter {formatter!r} failed on a record")
                return
            stamp = record_trace(record)
        sender.submit(line, stamp)

    def flush(self) -> None:
        """Wait up to ``flush_timeout`` for queued records to be delivered."""
        self.sender.drain()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every record emitted so far is delivered or failed; False on timeout."""
        return self.sender.drain(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.sender.close(timeout)
        super().close()

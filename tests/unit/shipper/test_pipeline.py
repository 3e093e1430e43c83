"""The shipper's state machine against a scripted source and sink: every branch on purpose.

The integration tests meet these branches when timing makes them happen; here each one is
made to happen: a batch polled across a rebalance, a revoke while a batch is being written
(finishing in time or not), a commit refused because the group rebalances, a commit that
fails otherwise, a delivery that raises, all write slots busy.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from shipper.formats.dispatch import FormatDispatcher
from shipper.metrics import ShipperMetrics
from shipper.pipeline import Limits, Pipeline
from shipper.sink import SinkResult
from shipper.transform import DeadLetter, Transformer, fallback_id
from shipper.transform import Limits as TransformLimits
from tests.support.otlp import LogSpec, sdk_request
from tests.support.shipping import KafkaMessage

TP0 = TopicPartition("logs", 0)
TP1 = TopicPartition("logs", 1)


def records(tp: TopicPartition, offsets: range, *, bad: Sequence[int] = ()) -> list[KafkaMessage]:
    out = []
    for offset in offsets:
        value = (
            b"not json"
            if offset in bad
            else orjson.dumps(
                {"@timestamp": "2026-11-22T10:00:00Z", "message": "m", "event.id": f"{tp}-{offset}"}
            )
        )
        out.append(KafkaMessage(value, topic=tp.topic, partition=tp.partition, offset=offset))
    return out


Poll = Mapping[TopicPartition, list[Any]]


class ScriptedSource:
    """Hands out scripted polls in order; an entry may be a coroutine function run first
    (to make a rebalance happen *during* the poll). Records commits and rewinds."""

    def __init__(self, *script: Poll | Callable[[], Awaitable[Poll]]) -> None:
        self.script: deque[Poll | Callable[[], Awaitable[Poll]]] = deque(script)
        self.partitions = {TP0, TP1}
        self.commits: list[dict[TopicPartition, int]] = []
        self.commit_errors: deque[Exception] = deque()
        self.rewinds = 0
        self.paused = False
        self.pauses = 0

    async def poll(self, timeout_ms: int, max_records: int) -> Poll:
        if not self.script:
            await asyncio.sleep(0.005)
            return {}
        entry = self.script.popleft()
        return await entry() if callable(entry) else entry

    def assignment(self) -> set[TopicPartition]:
        return set(self.partitions)

    def highwater(self, partition: TopicPartition) -> int | None:
        return None

    def pause(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume(self) -> None:
        self.paused = False

    def pause_if_paused(self, partitions: set[TopicPartition]) -> None:
        pass

    async def rewind_to_committed(self) -> None:
        self.rewinds += 1

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self.commit_errors:
            raise self.commit_errors.popleft()
        self.commits.append(dict(offsets))

    def committed(self) -> dict[TopicPartition, int]:
        merged: dict[TopicPartition, int] = {}
        for commit in self.commits:
            merged.update(commit)
        return merged


class ScriptedSink:
    """Creates every item; while ``gate`` is clear, writes wait for it."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.written: list[int] = []
        self.fail_with: Exception | None = None

    async def write(self, items: Sequence[bytes]) -> SinkResult:
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.written.append(len(items))
        return SinkResult(created=len(items))


class Letters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def write(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def pipeline(
    source: ScriptedSource, sink: ScriptedSink, letters: Letters, **limits: Any
) -> Pipeline:
    p = Pipeline(
        source,
        Transformer("tl-logs").transform,
        ShipperMetrics(),
        Limits(fetch_wait_ms=5, **{"drain_timeout_s": 2.0, **limits}),
        stop_requested=asyncio.Event(),
        abort_drain=asyncio.Event(),
    )
    p.attach(sink, letters)
    return p


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def test_delivered_batches_and_dead_letters_are_committed() -> None:
    source = ScriptedSource(
        {TP0: records(TP0, range(3)), TP1: records(TP1, range(2), bad=[1])},
        {TP0: records(TP0, range(3, 5))},
    )
    sink, letters = ScriptedSink(), Letters()
    p = pipeline(source, sink, letters)
    p.start()
    await until(lambda: source.committed() == {TP0: 5, TP1: 2}, "the commits")
    await p.shutdown(drain=True)
    assert sum(sink.written) == 6
    assert [letter.message.offset for letter in letters.letters] == [1]
    assert p.failure is None


async def test_a_batch_polled_across_a_rebalance_is_dropped_and_read_again() -> None:
    holder: list[Pipeline] = []

    async def rebalance_during_the_poll() -> Poll:
        # The group rebalances while this poll is out: it returns records of the old epoch.
        await holder[0].on_revoked(set())
        holder[0].on_assigned({TP0, TP1})
        return {TP0: records(TP0, range(10))}

    source = ScriptedSource(rebalance_during_the_poll)
    sink, letters = ScriptedSink(), Letters()
    p = pipeline(source, sink, letters)
    holder.append(p)
    p.start()
    await until(lambda: source.rewinds == 1, "the rewind")
    await p.shutdown(drain=True)
    assert sink.written == []  # never written: they may belong to another replica now
    assert source.committed() == {}


async def test_a_rewind_that_fails_is_tried_again_before_fetching_on() -> None:
    holder: list[Pipeline] = []

    async def stale() -> Poll:
        holder[0].on_assigned({TP0, TP1})
        return {TP0: records(TP0, range(2))}

    class FlakyRewind(ScriptedSource):
        async def rewind_to_committed(self) -> None:
            self.rewinds += 1
            if self.rewinds == 1:
                raise KafkaConnectionError("coordinator away")

    source = FlakyRewind(stale, {TP0: records(TP0, range(2))})
    sink, letters = ScriptedSink(), Letters()
    p = pipeline(source, sink, letters)
    holder.append(p)
    p.start()
    await until(lambda: source.committed() == {TP0: 2}, "the records read again", timeout=10)
    await p.shutdown(drain=True)
    assert source.rewinds == 2
    assert sink.written == [2]


async def test_a_revoke_during_a_write_drains_it_then_commits() -> None:
    source = ScriptedSource({TP0: records(TP0, range(4))})
    sink, letters = ScriptedSink(), Letters()
    sink.gate.clear()
    p = pipeline(source, sink, letters)
    p.start()
    await until(lambda: p.metrics.in_flight._value.get() == 1, "the batch in flight")
    revoke = asyncio.create_task(p.on_revoked({TP0, TP1}))
    await asyncio.sleep(0.05)
    assert not revoke.done()  # waiting for the batch, not giving it away
    sink.gate.set()
    await asyncio.wait_for(revoke, timeout=5)
    assert source.committed() == {TP0: 4}  # committed before the partitions went away
    await p.shutdown(drain=True)


async def test_a_batch_that_does_not_finish_within_the_drain_is_not_committed() -> None:
    second = asyncio.Event()

    async def after_the_first() -> Poll:
        await second.wait()
        return {TP1: records(TP1, range(3))}

    source = ScriptedSource({TP0: records(TP0, range(2))}, after_the_first)
    sink, letters = ScriptedSink(), Letters()
    p = pipeline(source, sink, letters, drain_timeout_s=0.05)
    p.start()
    await until(lambda: source.committed() == {TP0: 2}, "the first batch")
    sink.gate.clear()
    second.set()
    await until(lambda: p.metrics.in_flight._value.get() == 1, "the second batch in flight")
    await p.on_revoked({TP0, TP1})
    assert source.committed() == {TP0: 2}  # TP1 is replayed by its next owner
    assert p.metrics.in_flight._value.get() == 0  # the stuck write was cancelled
    assert p.failure is None
    await p.shutdown(drain=False)


async def test_a_commit_refused_during_a_rebalance_is_given_up_not_retried() -> None:
    source = ScriptedSource({TP0: records(TP0, range(2))})
    source.commit_errors.append(CommitFailedError("rebalancing"))
    sink, letters = ScriptedSink(), Letters()
    p = pipeline(source, sink, letters)
    p.start()
    await until(lambda: sink.written == [2], "the write")
    await asyncio.sleep(0.5)  # two commit intervals: a retry would have happened
    assert source.commits == []
    source.script.append({TP0: records(TP0, range(2, 3))})
    await until(lambda: source.committed() == {TP0: 3}, "the next commit")
    await p.shutdown(drain=True)


async def test_a_commit_that_fails_otherwise_is_retried_with_the_same_offsets() -> None:
    source = ScriptedSource({TP0: records(TP0, range(2))})
    source.commit_errors.append(KafkaConnectionError("broker away"))
    sink, letters = ScriptedSink(), Letters()
    p = pipeline(source, sink, letters)
    p.start()
    await until(lambda: source.committed() == {TP0: 2}, "the retried commit")
    await p.shutdown(drain=True)


async def test_a_failing_delivery_fails_the_pipeline_and_commits_nothing_after_it() -> None:
    source = ScriptedSource({TP0: records(TP0, range(2))})
    sink, letters = ScriptedSink(), Letters()
    sink.fail_with = RuntimeError("disk on fire")
    p = pipeline(source, sink, letters)
    p.start()
    await until(lambda: p.failure is not None, "the failure")
    await p.shutdown(drain=True)
    assert isinstance(p.failure, RuntimeError)
    assert source.commits == []


async def test_all_slots_busy_pauses_consumption_until_one_frees() -> None:
    source = ScriptedSource(
        {TP0: records(TP0, range(2))},
        {TP1: records(TP1, range(2))},
        {TP0: records(TP0, range(2, 4))},
    )
    sink, letters = ScriptedSink(), Letters()
    sink.gate.clear()
    p = pipeline(source, sink, letters, max_in_flight=2)
    p.start()
    await until(lambda: source.paused, "the pause")
    assert p.metrics.paused._value.get() == 1
    sink.gate.set()
    await until(lambda: source.committed() == {TP0: 4, TP1: 2}, "everything delivered")
    await until(lambda: not source.paused, "the resume")
    await p.shutdown(drain=True)


@pytest.mark.parametrize("drain", [True, False])
async def test_shutdown_is_idempotent(drain: bool) -> None:
    p = pipeline(ScriptedSource(), ScriptedSink(), Letters())
    p.start()
    await p.shutdown(drain=drain)
    await p.shutdown(drain=drain)
    assert p.failure is None


async def test_409s_are_replays_or_reused_ids_by_the_stored_digest() -> None:
    """One record replayed, one reusing an ID another record holds: the first counts as a
    duplicate, the second is written again under its derived ID, flagged."""

    def record(offset: int, event_id: str, message: str) -> KafkaMessage:
        value = orjson.dumps(
            {
                "@timestamp": "2026-11-22T10:00:00Z",
                "message": message,
                "event.id": event_id,
                "service.name": "orders",
            }
        )
        return KafkaMessage(value, topic="logs", partition=0, offset=offset)

    replay, reuse = record(0, "a", "same"), record(1, "1", "new content")
    # The records' fixed date must not count as far from today.
    transformer = Transformer("tl-logs", TransformLimits(timestamp_max_distance_days=100_000))

    class Sink(ScriptedSink):
        def __init__(self) -> None:
            super().__init__()
            self.bodies: list[list[dict[str, Any]]] = []

        async def write(self, items: Sequence[bytes]) -> SinkResult:
            docs = [orjson.loads(item.split(b"\n")[1]) for item in items]
            self.bodies.append(docs)
            if len(self.bodies) == 1:  # both already there: 409
                return SinkResult(duplicates=2, duplicate_positions=[0, 1])
            return SinkResult(created=len(items))

    async def digests(actions: list[Any]) -> dict[tuple[str, str], int | None]:
        stored = {}
        for action in actions:
            same = action.message is replay
            theirs = action.source["tracelink"]["digest"] if same else 12345
            stored[(action.index, action.doc_id)] = theirs
        return stored

    source = ScriptedSource({TP0: [replay, reuse]})
    sink, letters = Sink(), Letters()
    p = Pipeline(
        source,
        transformer.transform,
        ShipperMetrics(),
        Limits(fetch_wait_ms=5),
        stop_requested=asyncio.Event(),
        abort_drain=asyncio.Event(),
    )
    p.attach(sink, letters, digests)
    p.start()
    await until(lambda: source.committed() == {TP0: 2}, "the commit")
    await p.shutdown(drain=True)
    [rewritten] = sink.bodies[1]
    assert rewritten["message"] == "new content"
    assert rewritten["tracelink"]["flags"] == ["event_id_conflict"]
    assert rewritten["tracelink"]["event_id_original"] == "1"
    assert rewritten["event"]["id"].startswith("logs-0-1-")
    sample = p.metrics.registry.get_sample_value
    assert sample("tracelink_shipper_records_duplicate_total") == 1
    assert (
        sample("tracelink_shipper_event_id_409_total", {"service": "orders", "outcome": "replay"})
        == 1
    )
    assert (
        sample("tracelink_shipper_event_id_409_total", {"service": "orders", "outcome": "conflict"})
        == 1
    )
    assert sample("tracelink_shipper_records_flagged_total", {"flag": "event_id_conflict"}) == 1


async def test_409s_of_otlp_records_get_the_same_check_as_ecs_records() -> None:
    """One OTLP payload whose three records all meet a 409: a replay (its ``log.record.uid``
    holds the same digest), a reused ``log.record.uid`` (another digest stored), and a record
    without one whose position-derived ID another record took (the topic was re-created).
    The last two are written again, alone, under IDs of their own, flagged."""
    request = sdk_request(
        [
            (
                {"service.name": "checkout"},
                [
                    LogSpec("replayed", attributes={"log.record.uid": "uid-1"}),
                    LogSpec("reuses a uid", attributes={"log.record.uid": "uid-2"}),
                    LogSpec("no uid"),
                ],
            )
        ]
    )
    payload = KafkaMessage(request.SerializeToString(), topic="logs", partition=0, offset=5)
    transformer = Transformer("tl-logs", TransformLimits(timestamp_max_distance_days=100_000))
    dispatcher = FormatDispatcher(transformer)

    class Sink(ScriptedSink):
        def __init__(self) -> None:
            super().__init__()
            self.bodies: list[list[dict[str, Any]]] = []
            self.ids: list[list[str]] = []

        async def write(self, items: Sequence[bytes]) -> SinkResult:
            lines = [item.split(b"\n") for item in items]
            self.ids.append([orjson.loads(line[0])["create"]["_id"] for line in lines])
            self.bodies.append([orjson.loads(line[1]) for line in lines])
            if len(self.bodies) == 1:  # all three already there: 409
                return SinkResult(duplicates=3, duplicate_positions=[0, 1, 2])
            return SinkResult(created=len(items))

    asked: list[str] = []

    async def digests(actions: list[Any]) -> dict[tuple[str, str], int | None]:
        asked.extend(action.doc_id for action in actions)
        return {
            (a.index, a.doc_id): a.source["tracelink"]["digest"] if a.doc_id == "uid-1" else 7
            for a in actions
        }

    source = ScriptedSource({TP0: [payload]})
    sink, letters = Sink(), Letters()
    p = Pipeline(
        source,
        dispatcher.process,
        ShipperMetrics(),
        Limits(fetch_wait_ms=5),
        stop_requested=asyncio.Event(),
        abort_drain=asyncio.Event(),
    )
    p.attach(sink, letters, digests)
    p.start()
    await until(lambda: source.committed() == {TP0: 6}, "the commit")
    await p.shutdown(drain=True)
    assert sink.ids[0] == ["uid-1", "uid-2", "logs-0-5-2"]
    assert sorted(asked) == sorted(sink.ids[0])  # one mget for all three
    rewritten = sink.bodies[1]
    assert [doc["message"] for doc in rewritten] == ["reuses a uid", "no uid"]
    whole = fallback_id(payload)
    assert sink.ids[1] == [f"{whole}-1", f"{whole}-2"]
    for doc, original in zip(rewritten, ["uid-2", "logs-0-5-2"], strict=True):
        assert doc["event"]["id"] in sink.ids[1]
        assert doc["tracelink"]["event_id_original"] == original
        assert "event_id_conflict" in doc["tracelink"]["flags"]
    assert not letters.letters
    sample = p.metrics.registry.get_sample_value
    assert sample("tracelink_shipper_records_duplicate_total") == 1
    for outcome, number in (("replay", 1), ("conflict", 2)):
        labels = {"service": "checkout", "outcome": outcome}
        assert sample("tracelink_shipper_event_id_409_total", labels) == number


def test_service_labels_are_bounded_and_revoked_lag_gauges_removed() -> None:
    metrics = ShipperMetrics()
    labels = {metrics.service_label(f"svc-{i}") for i in range(500)}
    assert len(labels) == 101
    assert "_other" in labels
    assert metrics.service_label(None) == "_none"
    assert metrics.service_label("svc-3") == "svc-3"
    metrics.lag.labels("logs", "0").set(5)
    metrics.lag.labels("logs", "1").set(7)
    metrics.forget_partitions([("logs", 0), ("logs", 9)])
    assert (
        metrics.registry.get_sample_value(
            "tracelink_shipper_partition_lag", {"topic": "logs", "partition": "0"}
        )
        is None
    )
    assert (
        metrics.registry.get_sample_value(
            "tracelink_shipper_partition_lag", {"topic": "logs", "partition": "1"}
        )
        == 7
    )

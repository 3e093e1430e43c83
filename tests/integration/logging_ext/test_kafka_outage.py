"""A real Kafka outage, longer than the producer's request timeout, loses nothing.

The Kafka stand-in runs behind a TCP relay on loopback (``tests/support/kafka_relay.py``)
that advertises itself as the broker; cutting the relay makes Kafka unreachable for every
connection at once, restoring it brings the same broker, with its data, back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import logging_ext
from devstack.standins import KafkaStandin, free_port
from logging_ext.testing import RecordStream
from tests.support.kafka_relay import KafkaRelay
from tests.support.logs import consume

THREADS = 20
PER_THREAD = 1000
TOTAL = THREADS * PER_THREAD
# Twice aiokafka's batch lifetime (request_timeout_ms, 30 s in logging_ext's defaults):
# before the fix every batch the producer held at the cut failed after 30 s.
OUTAGE_S = 60.0


class RelayedKafkaStandin(KafkaStandin):
    """The Kafka stand-in, advertising the relay's address so that clients stay on it."""

    def __init__(self, *, advertised_port: int, port: int, data_dir: Path) -> None:
        super().__init__(port=port, data_dir=data_dir)
        self.advertised_port = advertised_port

    def _argv(self) -> list[str]:
        argv = super()._argv()
        argv[argv.index("--advertised-listener-url") + 1] = (
            f"tcp://{self.host}:{self.advertised_port}"
        )
        return argv


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[KafkaRelay]:
    if os.environ.get("TRACELINK_KAFKA_BOOTSTRAP"):
        pytest.skip("needs its own broker behind a relay (the stand-in)")
    broker_port = free_port()
    relay = KafkaRelay("127.0.0.1", broker_port).start()
    standin = RelayedKafkaStandin(advertised_port=relay.port, port=broker_port, data_dir=tmp_path)
    try:
        standin.start()
        yield relay
    finally:
        relay.stop()
        standin.stop()


def _create_topic(bootstrap: str, name: str, partitions: int = 4) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()

    asyncio.run(create())


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_a_60s_outage_mid_stream_loses_and_duplicates_nothing(relay: KafkaRelay) -> None:
    bootstrap = f"127.0.0.1:{relay.port}"
    topic = "outage-logs"
    _create_topic(bootstrap, topic)
    stream = RecordStream()  # every record as the application logged it
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=bootstrap, topic=topic, stream=stream
    )
    outage = threading.Event()
    halfway = threading.Barrier(THREADS + 1)

    def work(n: int) -> None:
        logger = logging.getLogger(f"orders.worker{n}")
        for i in range(PER_THREAD // 2):
            logger.info("before %d", i, extra={"worker": n})
        halfway.wait(120)
        outage.wait(120)
        for i in range(PER_THREAD // 2, PER_THREAD):
            logger.info("during %d", i, extra={"worker": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        # Cut while records are still on their way: some sent, the rest queued or in flight.
        _wait_for(lambda: handle.sent >= 2000, 120, "the first records to arrive")
        relay.cut()
        cut_at = time.monotonic()
        halfway.wait(120)
        outage.set()  # the second half is logged while Kafka is unreachable
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
        # The outage lasts OUTAGE_S; throughout, nothing may be given up on.
        while time.monotonic() - cut_at < OUTAGE_S:
            assert (handle.dropped, handle.failed) == (0, 0), "records given up while waiting"
            time.sleep(0.5)
        assert handle.kafka is not None
        assert handle.sent < TOTAL  # the second half at least is still waiting ...
        assert handle.kafka.queued > 0  # ... in the queue
        relay.restore()
        _wait_for(lambda: handle.sent + handle.failed + handle.dropped >= TOTAL, 180, "delivery")
    finally:
        outage.set()
        handle.close(timeout=30)
    assert (handle.sent, handle.dropped, handle.failed) == (TOTAL, 0, 0)
    assert relay.connections_seen >= 2  # the producer really reconnected after the outage

    # The application's records (the stream also has aiokafka's own, which stay out of Kafka).
    logged = [r["event.id"] for r in stream.records if r["log.logger"].startswith("orders.")]
    assert len(logged) == len(set(logged)) == TOTAL
    records = consume(bootstrap, topic, expected=TOTAL, timeout=180)
    arrived = Counter(r.value["event.id"] for r in records)
    assert set(arrived) == set(logged)  # every record arrived ...
    assert set(arrived.values()) == {1}  # ... exactly once

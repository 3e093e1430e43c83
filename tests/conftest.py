"""Fixtures shared by every test tier.

Integration and end-to-end tests talk to real servers: the embedded stand-ins (Tansu for
Kafka, noida-db for Elasticsearch), started once per session as child processes on free
loopback ports, or the servers named by ``TRACELINK_KAFKA_BOOTSTRAP`` /
``TRACELINK_ES_URL`` when those are set. Each test gets its
own topic and its own index prefix, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from devstack.standins import ElasticsearchStandin, KafkaStandin, free_port
from tests.support.elasticsearch import delete_prefixed
from tests.support.servers import ElasticsearchServer, KafkaServer
from tests.support.tls import MISSING_STUNNEL, STUNNEL, Stunnel, TlsKafka, make_certificates

SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"

_TIERS = {"integration": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier from its folder, so ``-m 'not integration'`` works."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for folder, marker in _TIERS.items():
            if folder in parts:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(autouse=True)
def _otlp_receiver_on_a_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``tracelink dev``/``demo`` that a test starts listens for OTLP on a free port, not
    on the default 4318, which another run on this machine may hold."""
    monkeypatch.setenv("TRACELINK_OTLP_PORT", str(free_port()))


_SERVERS: dict[str, KafkaServer | ElasticsearchServer] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the tail of every stand-in log the test used to its report."""
    report = yield
    if report.failed:
        used = getattr(item, "fixturenames", ())
        for name, server in _SERVERS.items():
            if name in used and (tail := server.log_tail()):
                report.sections.append((f"{name} server log (tail)", tail))
    return report


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    external = os.environ.get("TRACELINK_KAFKA_BOOTSTRAP")
    if external:
        server = KafkaServer(bootstrap=external)
        _SERVERS["kafka_server"] = server
        yield server
        return
    standin = KafkaStandin(port=None, data_dir=tmp_path_factory.mktemp("kafka"))
    standin.start()
    server = KafkaServer(bootstrap=standin.bootstrap, standin=standin)
    _SERVERS["kafka_server"] = server
    try:
        yield server
    finally:
        standin.stop()


@pytest.fixture(scope="session")
def es_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ElasticsearchServer]:
    external = os.environ.get("TRACELINK_ES_URL")
    if external:
        server = ElasticsearchServer(url=external.split(",")[0].rstrip("/"))
        _SERVERS["es_server"] = server
        yield server
        return
    standin = ElasticsearchStandin(port=None, data_dir=tmp_path_factory.mktemp("elasticsearch"))
    standin.start()
    server = ElasticsearchServer(url=standin.url, standin=standin)
    _SERVERS["es_server"] = server
    try:
        yield server
    finally:
        standin.stop()


@contextlib.contextmanager
def _kafka_behind_stunnel(
    base: Path, *, authentication: bool, require_client_cert: bool
) -> Iterator[TlsKafka]:
    """A Kafka stand-in behind stunnel (Debian's stunnel4), the broker advertising stunnel's
    address so clients stay on TLS after bootstrap; both stopped on exit."""
    if STUNNEL is None:
        pytest.skip(MISSING_STUNNEL)
    certificates = make_certificates(base / "certs")
    tls_port = free_port()
    broker = KafkaStandin(
        port=None,
        data_dir=base / "kafka",
        advertised=f"127.0.0.1:{tls_port}",
        authentication=authentication,
    ).start()
    try:
        terminator = Stunnel(
            port=tls_port,
            data_dir=base / "stunnel",
            target=broker.bootstrap,
            certificates=certificates,
            require_client_cert=require_client_cert,
        ).start()
        try:
            yield TlsKafka(bootstrap=terminator.address, certificates=certificates)
        finally:
            terminator.stop()
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    """A Kafka stand-in reachable only over TLS with a client certificate."""
    with _kafka_behind_stunnel(
        tmp_path_factory.mktemp("tls-kafka"), authentication=False, require_client_cert=True
    ) as kafka:
        yield kafka


@pytest.fixture(scope="session")
def sasl_ssl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    """SASL_SSL: stunnel (server certificate only) in front of a stand-in that requires
    SASL/SCRAM and, having no users, refuses every credential."""
    with _kafka_behind_stunnel(
        tmp_path_factory.mktemp("sasl-ssl-kafka"), authentication=True, require_client_cert=False
    ) as kafka:
        yield kafka


@pytest.fixture(scope="session")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka stand-in that requires SASL/SCRAM (``--authentication``) and has no users: it
    refuses every credential, as a broker does a wrong password. (Users cannot be added to
    this build's in-memory storage: see the README, "Connecting to a secured Kafka".)"""
    broker = KafkaStandin(
        port=None, data_dir=tmp_path_factory.mktemp("sasl-kafka"), authentication=True
    ).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(kafka_server: KafkaServer) -> str:
    return kafka_server.bootstrap


@pytest.fixture
def es_url(es_server: ElasticsearchServer) -> str:
    return es_server.url


def _unique(request: pytest.FixtureRequest, kind: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{kind}-{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create a fresh topic (``partitions`` of them) and return its name."""

    def create(partitions: int = 4, suffix: str = "logs") -> str:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        name = _unique(request, suffix)

        async def _create() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
            await admin.start()
            try:
                await admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=1)]
                )
            finally:
                await admin.close()

        asyncio.run(_create())
        return name

    return create


@pytest.fixture
def topic(make_topic: Callable[..., str]) -> str:
    """A fresh 4-partition topic for this test."""
    return make_topic()


@pytest.fixture
def index_prefix(es_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh index prefix for this test; its indices and templates are deleted afterwards."""
    prefix = _unique(request, "tl")
    yield prefix
    delete_prefixed(es_url, prefix)


@pytest.fixture
def shared_reference() -> Path:
    """``../shared/reference`` (third-party fixtures); skips the test where it is absent."""
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_REFERENCE}")
    return SHARED_REFERENCE

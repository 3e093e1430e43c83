"""TLS for the tests: certificates made at test time, and stunnel in front of the Kafka stand-in.

The stand-in's own ``--cert`` does not serve TLS, so Debian's ``stunnel4`` terminates TLS and
forwards the plain Kafka protocol to the broker, which advertises the stunnel address so that
clients stay on TLS after bootstrap. Certificates come from the ``openssl`` command line tool:
a CA, a server certificate for ``127.0.0.1``/``localhost``, a client certificate, and a
second, unrelated CA (the "wrong CA" of the failure tests).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.standins import ManagedProcess
from tracelink.kafka_security import KafkaSecurity

__all__ = ["STUNNEL", "Stunnel", "TestCertificates", "TlsKafka", "make_certificates"]

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
MISSING_STUNNEL = "stunnel not installed: `make test` installs Debian's stunnel4"


@dataclass(frozen=True)
class TestCertificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path
    # A client certificate signed by the wrong CA: the broker must refuse it.
    rogue_client_cert: Path
    rogue_client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_leaf(
    directory: Path, name: str, ca: tuple[Path, Path], extensions: list[str]
) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    ext = directory / f"{name}.ext"
    ext.write_text(
        "\n".join(
            [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                "subjectKeyIdentifier=hash",
                "authorityKeyIdentifier=keyid,issuer",
                *extensions,
            ]
        )
        + "\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_certificates(directory: Path) -> TestCertificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "tracelink-test-ca")
    wrong = _make_ca(directory, "some-other-ca")
    server = _make_leaf(
        directory,
        "kafka-broker",
        ca,
        ["subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth"],
    )
    client = _make_leaf(directory, "tracelink-client", ca, ["extendedKeyUsage=clientAuth"])
    rogue = _make_leaf(directory, "rogue-client", wrong, ["extendedKeyUsage=clientAuth"])
    return TestCertificates(
        ca=ca[0],
        server_cert=server[0],
        server_key=server[1],
        client_cert=client[0],
        client_key=client[1],
        wrong_ca=wrong[0],
        rogue_client_cert=rogue[0],
        rogue_client_key=rogue[1],
    )


class Stunnel(ManagedProcess):
    """stunnel accepting TLS on ``port`` and forwarding plain TCP to ``target``.

    With ``require_client_cert`` the client must present a certificate signed by ``ca``
    (mutual TLS), as a production broker's ``ssl.client.auth=required`` listener does.
    """

    name = "stunnel"

    def __init__(
        self,
        *,
        port: int | None,
        data_dir: Path,
        target: str,
        certificates: TestCertificates,
        require_client_cert: bool,
    ) -> None:
        super().__init__(port=port, data_dir=data_dir)
        self.target = target
        self.certificates = certificates
        self.require_client_cert = require_client_cert

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        assert STUNNEL is not None, MISSING_STUNNEL
        certs = self.certificates
        lines = [
            "foreground = yes",
            "pid =",
            "debug = notice",
            "[kafka]",
            f"accept = {self.host}:{self.port}",
            f"connect = {self.target}",
            f"cert = {certs.server_cert}",
            f"key = {certs.server_key}",
        ]
        if self.require_client_cert:
            lines += [f"CAfile = {certs.ca}", "requireCert = yes", "verifyChain = yes"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "stunnel.conf"
        config.write_text("\n".join(lines) + "\n")
        return [STUNNEL, str(config)]

    def _ready(self) -> bool:
        # A TLS handshake, not just a TCP accept: stunnel listens before it is fully set up.
        context = ssl.create_default_context(cafile=str(self.certificates.ca))
        if self.require_client_cert:
            context.load_cert_chain(
                str(self.certificates.client_cert), str(self.certificates.client_key)
            )
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=1.0) as sock,
                context.wrap_socket(sock, server_hostname=self.host),
            ):
                return True
        except OSError:
            return False


@dataclass(frozen=True)
class TlsKafka:
    """The Kafka stand-in behind stunnel: TLS with a required client certificate (mTLS)."""

    bootstrap: str  # stunnel: what clients connect to
    certificates: TestCertificates

    def security(self, **changes: object) -> KafkaSecurity:
        """The settings of a client that the broker accepts, with ``changes`` applied."""
        certs = self.certificates
        values: dict[str, object] = {
            "protocol": "SSL",
            "ca_certs": certs.ca,
            "client_cert": certs.client_cert,
            "client_key": certs.client_key,
            **changes,
        }
        return KafkaSecurity(**values)  # type: ignore[arg-type]

    def env(self, **changes: str) -> dict[str, str]:
        """The ``TRACELINK_KAFKA_*`` variables of an accepted client, with ``changes``."""
        certs = self.certificates
        return {
            "TRACELINK_KAFKA_BOOTSTRAP": self.bootstrap,
            "TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL",
            "TRACELINK_KAFKA_CA_CERTS": str(certs.ca),
            "TRACELINK_KAFKA_CLIENT_CERT": str(certs.client_cert),
            "TRACELINK_KAFKA_CLIENT_KEY": str(certs.client_key),
            **changes,
        }

    def create_topic(self, name: str, partitions: int = 4) -> None:
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        async def create() -> None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, **self.security().client_kwargs()
            )
            await admin.start()
            try:
                await admin.create_topics([NewTopic(name, partitions, 1)])
            finally:
                await admin.close()

        asyncio.run(create())

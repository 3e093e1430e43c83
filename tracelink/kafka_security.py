"""How every tracelink Kafka client connects: TLS, SASL, or neither. One rule, one place.

The shipper's consumer and dead-letter producer, ``tracelink dev``/``demo`` and their demo
services, and ``logging_ext`` inside users' services all build their aiokafka clients from a
:class:`KafkaSecurity`, read from the same environment variables:

==================================== ==========================================================
``TRACELINK_KAFKA_SECURITY_PROTOCOL`` ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``,
                                     ``SASL_SSL``
``TRACELINK_KAFKA_SASL_MECHANISM``   ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512`` (SASL only)
``TRACELINK_KAFKA_USERNAME``         SASL user
``TRACELINK_KAFKA_PASSWORD``         SASL password (or ``TRACELINK_KAFKA_PASSWORD_FILE``: a file
                                     holding it, as mounted secrets are)
``TRACELINK_KAFKA_CA_CERTS``         PEM bundle of the CAs trusted for the brokers' certificates
                                     (default: the system's)
``TRACELINK_KAFKA_CLIENT_CERT``      PEM client certificate for mutual TLS (and
``TRACELINK_KAFKA_CLIENT_KEY``       its key, unless the certificate file holds it)
``TRACELINK_KAFKA_SSL_CHECK_HOSTNAME`` ``true`` (default): the certificate must name the host
==================================== ==========================================================

Guarantees: the password never appears in ``repr``, in an error or in a log line; a setting
that cannot work (unknown protocol, missing credentials, unreadable certificate) fails when
it is read, with one :class:`~tracelink.errors.ConfigError` naming the variable; and
:func:`check_connection` tells a broker that refuses us (untrusted or mismatched
certificate, refused handshake, wrong credentials, unsupported mechanism — each a
``ConfigError`` naming the setting to fix) from a broker that is merely unreachable (a
retriable ``KafkaConnectionError``: wait and try again).

Dependencies: the standard library and aiokafka only, because services import this through
``logging_ext``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracelink.errors import ConfigError

if TYPE_CHECKING:
    import ssl

__all__ = [
    "MECHANISMS",
    "PROTOCOLS",
    "KafkaSecurity",
    "check_connection",
    "classify_failure",
]

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

PROTOCOL_VAR: Final = "TRACELINK_KAFKA_SECURITY_PROTOCOL"
MECHANISM_VAR: Final = "TRACELINK_KAFKA_SASL_MECHANISM"
USERNAME_VAR: Final = "TRACELINK_KAFKA_USERNAME"
PASSWORD_VAR: Final = "TRACELINK_KAFKA_PASSWORD"  # noqa: S105 - a variable name
PASSWORD_FILE_VAR: Final = "TRACELINK_KAFKA_PASSWORD_FILE"  # noqa: S105 - a variable name
CA_CERTS_VAR: Final = "TRACELINK_KAFKA_CA_CERTS"
CLIENT_CERT_VAR: Final = "TRACELINK_KAFKA_CLIENT_CERT"
CLIENT_KEY_VAR: Final = "TRACELINK_KAFKA_CLIENT_KEY"
CHECK_HOSTNAME_VAR: Final = "TRACELINK_KAFKA_SSL_CHECK_HOSTNAME"

VARIABLES: Final = (
    PROTOCOL_VAR,
    MECHANISM_VAR,
    USERNAME_VAR,
    PASSWORD_VAR,
    PASSWORD_FILE_VAR,
    CA_CERTS_VAR,
    CLIENT_CERT_VAR,
    CLIENT_KEY_VAR,
    CHECK_HOSTNAME_VAR,
)

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})

# OpenSSL's reasons (``ssl.SSLError.reason``) for "the other side does not speak TLS".
_NOT_TLS_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"}
)
# ... and for "the broker refused our client certificate, or wanted one" (an alert it sent).
_CLIENT_CERT_REASONS: Final = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "TLSV1_ALERT_ACCESS_DENIED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    }
)
# X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH_CODES: Final = frozenset({62, 64})


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    value = _text(environ, name)
    return None if value is None else Path(value).expanduser()


def _read_password_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(PASSWORD_FILE_VAR, f"cannot read {str(path)!r}: {reason}") from None
    # Secrets mounted from files usually end with a newline that is not part of them.
    password = text.rstrip("\r\n")
    if not password:
        raise ConfigError(PASSWORD_FILE_VAR, f"{str(path)!r} is empty")
    return password


@dataclass(frozen=True)
class KafkaSecurity:
    """The security settings of a Kafka client; validated on construction.

    Raises :class:`~tracelink.errors.ConfigError` naming the variable when the combination
    cannot work. ``repr`` shows everything but the password.
    """

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_certs: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    check_hostname: bool = True
    # Which variable the password came from, for error messages that must not show it.
    password_source: str = field(default=PASSWORD_VAR, compare=False)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                PROTOCOL_VAR, f"{self.protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        if self.uses_sasl:
            self._check_sasl()
        else:
            for variable, value in (
                (MECHANISM_VAR, self.sasl_mechanism),
                (USERNAME_VAR, self.username),
                (self.password_source, self.password),
            ):
                if value is not None:
                    raise ConfigError(
                        variable,
                        f"is only used with SASL_PLAINTEXT or SASL_SSL, "
                        f"but {PROTOCOL_VAR} is {self.protocol}",
                    )
        if self.uses_tls:
            self.ssl_context()  # unreadable or invalid files fail now, not at connect
        else:
            for variable, path in (
                (CA_CERTS_VAR, self.ca_certs),
                (CLIENT_CERT_VAR, self.client_cert),
                (CLIENT_KEY_VAR, self.client_key),
            ):
                if path is not None:
                    raise ConfigError(
                        variable,
                        f"is only used with SSL or SASL_SSL, but {PROTOCOL_VAR} is {self.protocol}",
                    )

    def _check_sasl(self) -> None:
        if self.sasl_mechanism is None:
            raise ConfigError(
                MECHANISM_VAR, f"{self.protocol} needs a mechanism: one of {', '.join(MECHANISMS)}"
            )
        if self.sasl_mechanism not in MECHANISMS:
            raise ConfigError(
                MECHANISM_VAR,
                f"{self.sasl_mechanism!r} is not one of {', '.join(MECHANISMS)}",
            )
        if self.username is None:
            raise ConfigError(USERNAME_VAR, f"{self.protocol} needs a user name")
        if self.password is None:
            raise ConfigError(
                PASSWORD_VAR, f"{self.protocol} needs a password (or {PASSWORD_FILE_VAR})"
            )

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The settings from ``TRACELINK_KAFKA_*`` (``os.environ`` by default); blank = unset."""
        env = os.environ if environ is None else environ
        protocol = (_text(env, PROTOCOL_VAR) or "PLAINTEXT").upper().replace("-", "_")
        mechanism = _text(env, MECHANISM_VAR)
        password = env.get(PASSWORD_VAR) or None  # spaces may belong to a password
        password_file = _path(env, PASSWORD_FILE_VAR)
        source = PASSWORD_VAR
        if password_file is not None:
            if password is not None:
                raise ConfigError(PASSWORD_FILE_VAR, f"set it or {PASSWORD_VAR}, not both")
            password = _read_password_file(password_file)
            source = PASSWORD_FILE_VAR
        check_hostname = _text(env, CHECK_HOSTNAME_VAR)
        if check_hostname is not None and check_hostname.lower() not in _TRUE | _FALSE:
            raise ConfigError(CHECK_HOSTNAME_VAR, f"{check_hostname!r} is not true or false")
        return cls(
            protocol=protocol,
            sasl_mechanism=None if mechanism is None else mechanism.upper(),
            username=_text(env, USERNAME_VAR),
            password=password,
            ca_certs=_path(env, CA_CERTS_VAR),
            client_cert=_path(env, CLIENT_CERT_VAR),
            client_key=_path(env, CLIENT_KEY_VAR),
            check_hostname=check_hostname is None or check_hostname.lower() in _TRUE,
            password_source=source,
        )

    # -- using --------------------------------------------------------------------------------

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def describe(self) -> str:
        """One line for logs and start-up banners: what, never the password."""
        parts = [self.protocol]
        if self.uses_sasl:
            parts.append(f"{self.sasl_mechanism} as {self.username!r}")
        if self.uses_tls:
            parts.append(f"CA {self.ca_certs}" if self.ca_certs else "system CAs")
            if self.client_cert is not None:
                parts.append(f"client certificate {self.client_cert}")
            if not self.check_hostname:
                parts.append("hostname not checked")
        return ", ".join(parts)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context: the broker's certificate verified (against ``ca_certs`` or the
        system's CAs), its host name checked unless turned off, our certificate presented
        when one is configured."""
        import ssl

        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH,
                cafile=None if self.ca_certs is None else str(self.ca_certs),
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(CA_CERTS_VAR, _file_problem(self.ca_certs, exc)) from None
        context.check_hostname = self.check_hostname
        if self.client_key is not None and self.client_cert is None:
            raise ConfigError(CLIENT_KEY_VAR, f"needs {CLIENT_CERT_VAR} too")
        if self.client_cert is not None:
            try:
                context.load_cert_chain(
                    str(self.client_cert),
                    None if self.client_key is None else str(self.client_key),
                )
            except (OSError, ssl.SSLError) as exc:
                variable = CLIENT_KEY_VAR if self.client_key is not None else CLIENT_CERT_VAR
                path = self.client_key if self.client_key is not None else self.client_cert
                if isinstance(exc, OSError) and exc.filename == str(self.client_cert):
                    variable, path = CLIENT_CERT_VAR, self.client_cert
                raise ConfigError(variable, _file_problem(path, exc)) from None
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/the admin client."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self.password
        return kwargs


def _file_problem(path: Path | None, exc: BaseException) -> str:
    import ssl

    where = repr(str(path)) if path is not None else "the file"
    if isinstance(exc, ssl.SSLError):
        return f"{where} is not a usable PEM file ({exc.reason or exc.__class__.__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read {where}: {exc.strerror}"
    return f"cannot use {where}: {exc.__class__.__name__}"


# -- telling "refused" from "unreachable" -------------------------------------------------------


def classify_failure(
    exc: BaseException, security: KafkaSecurity, server: str
) -> ConfigError | None:
    """The configuration error that ``exc`` (raised while connecting to ``server``) means,
    or ``None`` when it only means "not reachable now" (worth waiting for)."""
    import ssl

    if isinstance(exc, ssl.SSLError):
        return _tls_refusal(exc, security, server)
    return _sasl_refusal(exc, security, server)


def _tls_refusal(exc: ssl.SSLError, security: KafkaSecurity, server: str) -> ConfigError:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH_CODES:
            return ConfigError(
                CHECK_HOSTNAME_VAR,
                f"the certificate of Kafka broker {server} does not name that host "
                f"({exc.verify_message}); connect by a name it lists, or set "
                f"{CHECK_HOSTNAME_VAR}=false",
            )
        return ConfigError(
            CA_CERTS_VAR,
            f"the certificate of Kafka broker {server} is not trusted ({exc.verify_message}); "
            f"set {CA_CERTS_VAR} to the CA bundle that signed it",
        )
    reason = exc.reason or ""
    if reason in _NOT_TLS_REASONS:
        return ConfigError(
            PROTOCOL_VAR,
            f"Kafka broker {server} does not speak TLS ({reason}); "
            f"is {security.protocol} the right protocol for this listener?",
        )
    if reason in _CLIENT_CERT_REASONS:
        problem = (
            "refused our client certificate"
            if security.client_cert is not None
            else "requires a client certificate"
        )
        return ConfigError(CLIENT_CERT_VAR, f"Kafka broker {server} {problem} ({reason})")
    return ConfigError(
        PROTOCOL_VAR, f"TLS handshake with Kafka broker {server} failed ({reason or exc})"
    )


def _sasl_refusal(exc: BaseException, security: KafkaSecurity, server: str) -> ConfigError | None:
    from aiokafka import errors

    if isinstance(exc, errors.UnsupportedSaslMechanismError):
        return ConfigError(
            MECHANISM_VAR,
            f"Kafka broker {server} does not accept {security.sasl_mechanism} "
            "(or does not use SASL on this listener)",
        )
    if isinstance(exc, errors.IllegalSaslStateError):
        return ConfigError(
            PROTOCOL_VAR, f"Kafka broker {server} does not expect SASL on this listener"
        )
    # aiokafka's SCRAM client raises KeyError or ValueError when the broker answers the final
    # step with an error ("e=unknown-user", "e=invalid-proof") or a wrong signature instead
    # of its own (aiokafka/conn.py, ScramAuthenticator): a refusal as well.
    refused = isinstance(exc, errors.SaslAuthenticationFailed | errors.AuthenticationFailedError)
    if refused or (security.uses_sasl and isinstance(exc, KeyError | ValueError)):
        return ConfigError(
            f"{USERNAME_VAR} / {security.password_source}",
            f"Kafka broker {server} rejected the credentials of user {security.username!r} "
            f"({security.sasl_mechanism})",
        )
    return None


async def check_connection(
    security: KafkaSecurity,
    bootstrap_servers: str | Sequence[str],
    *,
    connect_timeout_s: float = 10.0,
    client_id: str = "tracelink",
) -> None:
    """Connect to the bootstrap servers as the clients will (TLS, then SASL) and hang up.

    Returns once one server accepted us, and at once for ``PLAINTEXT`` (nothing there to
    refuse; the clients' own start-up waits for the broker). Raises
    :class:`~tracelink.errors.ConfigError` naming the setting to fix when a server refused
    us (that will not change by retrying) and ``aiokafka.errors.KafkaConnectionError``
    (retriable) when none could be reached.

    aiokafka's own clients log such refusals and report only "Unable to bootstrap", the same
    as for a broker that is down (aiokafka/client.py, ``AIOKafkaClient.bootstrap``); this
    check uses aiokafka's connection (the same handshake code) to see the real cause.
    """
    if security.protocol == "PLAINTEXT":
        return
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaConnectionError

    servers = (
        [part.strip() for part in bootstrap_servers.split(",") if part.strip()]
        if isinstance(bootstrap_servers, str)
        else [str(part) for part in bootstrap_servers]
    )
    kwargs = security.client_kwargs()
    last: BaseException | None = None
    for server in servers:
        host, _, port = server.rpartition(":")
        shook_hands = False
        try:
            if security.uses_tls:
                await _tls_handshake(
                    host.strip("[]"), int(port), kwargs["ssl_context"], connect_timeout_s
                )
                shook_hands = True
            conn = await asyncio.wait_for(
                create_conn(
                    host.strip("[]"),
                    int(port),
                    client_id=client_id,
                    request_timeout_ms=int(connect_timeout_s * 1000),
                    **kwargs,
                ),
                connect_timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - classified below, the rest is "unreachable"
            refused = classify_failure(_cause(exc), security, server)
            if refused is None and shook_hands:
                refused = await _late_tls_verdict(
                    security, server, kwargs["ssl_context"], connect_timeout_s
                )
            if refused is not None:
                raise refused from None
            last = exc
            continue
        # Wait for the socket to close (a TLS close takes a round trip): nothing left behind.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(conn.close()), connect_timeout_s)
        return
    detail = f": {last.__class__.__name__}: {last}" if last is not None else ""
    if last is not None and not isinstance(last, ConnectionRefusedError):
        # Connected, then silence or a hang-up: a broker that is starting, or a listener
        # that speaks another protocol than ours.
        detail += f" (if the broker is up, check that {PROTOCOL_VAR}={security.protocol} fits)"
    raise KafkaConnectionError(f"no Kafka bootstrap server reachable ({','.join(servers)}){detail}")


# How long to listen after a TLS handshake for the broker's verdict on our certificate.
_VERDICT_WAIT_S: Final = 0.3


async def _tls_handshake(
    host: str,
    port: int,
    context: ssl.SSLContext,
    connect_timeout_s: float,
    verdict_wait_s: float | None = None,
) -> None:
    """A TLS handshake, then a moment of listening before sending anything.

    With TLS 1.3 the server checks our certificate only after the handshake has completed on
    our side; its refusal is an alert that follows. Had we sent a request meanwhile, the
    server would close with it unread, and the kernel's reset may discard the alert before
    we read it: the refusal would look like a dropped connection. A healthy broker sends
    nothing unasked, so the wait ends in a timeout, which is the good outcome.
    """
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, server_hostname=host),
        connect_timeout_s,
    )
    try:
        with contextlib.suppress(TimeoutError):
            wait = _VERDICT_WAIT_S if verdict_wait_s is None else verdict_wait_s
            await asyncio.wait_for(reader.read(1), wait)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _late_tls_verdict(
    security: KafkaSecurity, server: str, context: ssl.SSLContext, connect_timeout_s: float
) -> ConfigError | None:
    """After a connection that failed without a reason: a slow broker's refusal of our
    certificate may have come later than the first listening allowed for. Listen longer."""
    import ssl

    host, _, port = server.rpartition(":")
    try:
        await _tls_handshake(
            host.strip("[]"), int(port), context, connect_timeout_s, verdict_wait_s=3.0
        )
    except ssl.SSLError as exc:
        return classify_failure(exc, security, server)
    except Exception:  # noqa: BLE001 - anything else: still only "unreachable"
        return None
    return None


def _cause(exc: BaseException) -> BaseException:
    """The TLS error behind a connection error, when aiokafka wrapped one."""
    import ssl

    seen = exc
    for _ in range(5):
        if isinstance(seen, ssl.SSLError):
            return seen
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
        seen = nxt
    return exc

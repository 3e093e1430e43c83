"""The Kafka security rule: reading, validating, client arguments, telling refusals apart."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from aiokafka import errors

from tracelink.errors import ConfigError
from tracelink.kafka_security import KafkaSecurity, check_connection, classify_failure
from tracelink.settings import KafkaSettings

SECRET = "s3cret-Pa55-do-not-print"


def _sasl_env(**extra: str) -> dict[str, str]:
    return {
        "TRACELINK_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "TRACELINK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TRACELINK_KAFKA_USERNAME": "shipper",
        "TRACELINK_KAFKA_PASSWORD": SECRET,
        **extra,
    }


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate and its key, made with the openssl tool."""
    directory = tmp_path_factory.mktemp("pem")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=t"],
        check=True, capture_output=True,
    )  # fmt: skip
    garbage = directory / "garbage.pem"
    garbage.write_text("not a certificate\n")
    return {"cert": cert, "key": key, "garbage": garbage}


def test_default_is_plaintext_with_no_client_arguments_but_the_protocol() -> None:
    security = KafkaSecurity.from_env({})
    assert security.protocol == "PLAINTEXT"
    assert security.client_kwargs() == {"security_protocol": "PLAINTEXT"}


def test_sasl_settings_become_aiokafka_arguments() -> None:
    kwargs = KafkaSecurity.from_env(_sasl_env()).client_kwargs()
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "shipper",
        "sasl_plain_password": SECRET,
    }


def test_protocol_and_mechanism_are_case_insensitive() -> None:
    security = KafkaSecurity.from_env(
        _sasl_env(
            TRACELINK_KAFKA_SECURITY_PROTOCOL="sasl_plaintext",
            TRACELINK_KAFKA_SASL_MECHANISM="scram-sha-256",
        )
    )
    assert (security.protocol, security.sasl_mechanism) == ("SASL_PLAINTEXT", "SCRAM-SHA-256")


def test_ssl_builds_a_verifying_context_with_the_client_certificate(pem: dict[str, Path]) -> None:
    security = KafkaSecurity.from_env(
        {
            "TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL",
            "TRACELINK_KAFKA_CA_CERTS": str(pem["cert"]),
            "TRACELINK_KAFKA_CLIENT_CERT": str(pem["cert"]),
            "TRACELINK_KAFKA_CLIENT_KEY": str(pem["key"]),
        }
    )
    context = security.client_kwargs()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True  # on by default
    assert len(context.get_ca_certs()) == 1


def test_hostname_check_can_be_turned_off_but_verification_stays(pem: dict[str, Path]) -> None:
    security = KafkaSecurity.from_env(
        {
            "TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL",
            "TRACELINK_KAFKA_CA_CERTS": str(pem["cert"]),
            "TRACELINK_KAFKA_SSL_CHECK_HOSTNAME": "false",
        }
    )
    context = security.ssl_context()
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_password_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n")
    env = _sasl_env(TRACELINK_KAFKA_PASSWORD_FILE=str(secret))
    del env["TRACELINK_KAFKA_PASSWORD"]
    security = KafkaSecurity.from_env(env)
    assert security.password == SECRET
    assert security.password_source == "TRACELINK_KAFKA_PASSWORD_FILE"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TRACELINK_KAFKA_SECURITY_PROTOCOL": "TLS"}, "TRACELINK_KAFKA_SECURITY_PROTOCOL"),
        (_sasl_env(TRACELINK_KAFKA_SASL_MECHANISM=""), "TRACELINK_KAFKA_SASL_MECHANISM"),
        (_sasl_env(TRACELINK_KAFKA_SASL_MECHANISM="GSSAPI"), "TRACELINK_KAFKA_SASL_MECHANISM"),
        (_sasl_env(TRACELINK_KAFKA_USERNAME=""), "TRACELINK_KAFKA_USERNAME"),
        (_sasl_env(TRACELINK_KAFKA_PASSWORD=""), "TRACELINK_KAFKA_PASSWORD"),
        (
            _sasl_env(TRACELINK_KAFKA_PASSWORD_FILE="/nonexistent/password"),
            "TRACELINK_KAFKA_PASSWORD_FILE",
        ),
        ({"TRACELINK_KAFKA_USERNAME": "shipper"}, "TRACELINK_KAFKA_USERNAME"),
        ({"TRACELINK_KAFKA_PASSWORD": SECRET}, "TRACELINK_KAFKA_PASSWORD"),
        ({"TRACELINK_KAFKA_CA_CERTS": "/etc/ca.pem"}, "TRACELINK_KAFKA_CA_CERTS"),
        (
            {"TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL", "TRACELINK_KAFKA_CA_CERTS": "/nope.pem"},
            "TRACELINK_KAFKA_CA_CERTS",
        ),
        (
            {"TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL", "TRACELINK_KAFKA_CLIENT_KEY": "/k.pem"},
            "TRACELINK_KAFKA_CLIENT_KEY",
        ),
        (
            {"TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL", "TRACELINK_KAFKA_SSL_CHECK_HOSTNAME": "x"},
            "TRACELINK_KAFKA_SSL_CHECK_HOSTNAME",
        ),
    ],
)
def test_unusable_settings_fail_naming_the_variable_never_the_password(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        KafkaSecurity.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable + ": ")
    assert "\n" not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_both_password_sources_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET)
    with pytest.raises(ConfigError) as caught:
        KafkaSecurity.from_env(_sasl_env(TRACELINK_KAFKA_PASSWORD_FILE=str(secret)))
    assert caught.value.variable == "TRACELINK_KAFKA_PASSWORD_FILE"


def test_unreadable_pem_names_the_file_variable(pem: dict[str, Path]) -> None:
    base = {"TRACELINK_KAFKA_SECURITY_PROTOCOL": "SSL"}
    with pytest.raises(ConfigError) as caught:
        KafkaSecurity.from_env({**base, "TRACELINK_KAFKA_CA_CERTS": str(pem["garbage"])})
    assert caught.value.variable == "TRACELINK_KAFKA_CA_CERTS"
    with pytest.raises(ConfigError) as caught:
        KafkaSecurity.from_env({**base, "TRACELINK_KAFKA_CLIENT_CERT": str(pem["garbage"])})
    assert caught.value.variable == "TRACELINK_KAFKA_CLIENT_CERT"


def test_the_password_is_in_no_repr_or_description() -> None:
    security = KafkaSecurity.from_env(_sasl_env())
    assert SECRET not in repr(security)
    assert SECRET not in str(security)
    assert SECRET not in security.describe()
    assert "SCRAM-SHA-512 as 'shipper'" in security.describe()


def test_settings_read_the_same_variables_and_hide_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in _sasl_env().items():
        monkeypatch.setenv(key, value)
    settings = KafkaSettings()
    assert settings.kafka_security == KafkaSecurity.from_env(_sasl_env())
    assert SECRET not in repr(settings)
    kwargs = settings.kafka_client_kwargs()
    assert kwargs["bootstrap_servers"] == "127.0.0.1:9092"
    assert kwargs["sasl_plain_password"] == SECRET


def test_settings_fail_with_the_rule_of_the_security_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACELINK_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError) as caught:
        KafkaSettings()
    assert caught.value.variable == "TRACELINK_KAFKA_SASL_MECHANISM"


# -- classifying connection failures ------------------------------------------------------------


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = code
    error.verify_message = message
    return error


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, reason)
    error.reason = reason
    return error


TLS = KafkaSecurity(protocol="SSL")
SASL = KafkaSecurity.from_env(_sasl_env())


@pytest.mark.parametrize(
    ("exc", "security", "variable"),
    [
        (_verify_error(19, "self-signed certificate"), TLS, "TRACELINK_KAFKA_CA_CERTS"),
        (_verify_error(20, "unable to get issuer"), TLS, "TRACELINK_KAFKA_CA_CERTS"),
        (_verify_error(62, "Hostname mismatch"), TLS, "TRACELINK_KAFKA_SSL_CHECK_HOSTNAME"),
        (_ssl_error("WRONG_VERSION_NUMBER"), TLS, "TRACELINK_KAFKA_SECURITY_PROTOCOL"),
        (
            _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"),
            TLS,
            "TRACELINK_KAFKA_CLIENT_CERT",
        ),
        (_ssl_error("TLSV1_ALERT_UNKNOWN_CA"), TLS, "TRACELINK_KAFKA_CLIENT_CERT"),
        (_ssl_error("SOMETHING_ELSE"), TLS, "TRACELINK_KAFKA_SECURITY_PROTOCOL"),
        (errors.UnsupportedSaslMechanismError(), SASL, "TRACELINK_KAFKA_SASL_MECHANISM"),
        (errors.IllegalSaslStateError(), SASL, "TRACELINK_KAFKA_SECURITY_PROTOCOL"),
        (
            errors.SaslAuthenticationFailed("bad"),
            SASL,
            "TRACELINK_KAFKA_USERNAME / TRACELINK_KAFKA_PASSWORD",
        ),
        (KeyError("v"), SASL, "TRACELINK_KAFKA_USERNAME / TRACELINK_KAFKA_PASSWORD"),
    ],
)
def test_refusals_name_the_setting_to_fix(
    exc: BaseException, security: KafkaSecurity, variable: str
) -> None:
    refused = classify_failure(exc, security, "broker:9093")
    assert refused is not None
    assert refused.variable == variable
    assert "broker:9093" in str(refused)
    assert SECRET not in str(refused)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        errors.KafkaConnectionError("Connection at broker:9093 closed"),
        OSError(113, "No route to host"),
    ],
)
def test_unreachable_is_not_a_refusal(exc: BaseException) -> None:
    assert classify_failure(exc, TLS, "broker:9093") is None
    assert classify_failure(exc, SASL, "broker:9093") is None


async def test_plaintext_check_returns_without_connecting() -> None:
    # Port 9 (discard) on loopback is not listening here; PLAINTEXT never tries it.
    await check_connection(KafkaSecurity(), "127.0.0.1:9")


def test_ship_has_flags_for_the_settings_but_none_for_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    from tracelink.cli import main

    with pytest.raises(SystemExit):
        main(["ship", "--help"])
    text = capsys.readouterr().out
    assert "--kafka-security-protocol" in text
    assert "--kafka-ca-certs" in text
    assert "--kafka-password-file" in text
    # A password flag would show the secret in the process list.
    assert not re.search(r"--kafka-password(?!-file)", text)

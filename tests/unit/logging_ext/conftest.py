from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.trace import Tracer

from logging_ext import _configure
from tests.support.logs import make_tracer_provider


@pytest.fixture
def tracer() -> Tracer:
    return make_tracer_provider()[0].get_tracer("tests")


@pytest.fixture
def unsampled_tracer() -> Tracer:
    return make_tracer_provider(sampled=False)[0].get_tracer("tests")


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """Every test leaves stdlib logging and structlog as it found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    structlog_config = structlog.get_config() if structlog.is_configured() else None
    yield
    active = _configure._active
    if active is not None:
        active.close()
        pytest.fail("a test left logging_ext configured")
    assert logging.getLogRecordFactory() is factory
    assert root.handlers == handlers
    assert root.level == level
    if structlog_config is None:
        assert not structlog.is_configured()
    else:
        assert structlog.get_config() == structlog_config

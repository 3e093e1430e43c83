"""A child forked while another thread is writing a record can still log."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

import logging_ext
from logging_ext.testing import RecordStream

CHILD_DEADLINE_S = 20.0


class GatedStream(RecordStream):
    """Blocks the writing thread named ``holder`` inside ``write`` until ``gate`` opens,
    so that the pipeline's lock is held at a known moment; every other writer passes."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def write(self, text: str) -> int:
        if threading.current_thread().name == "holder":
            self.entered.set()
            self.gate.wait(CHILD_DEADLINE_S * 2)
        return super().write(text)


def _wait_for_child(pid: int, deadline_s: float) -> int | None:
    """The child's exit code, or None if it is still running at the deadline (then killed)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_forked_while_another_thread_holds_the_pipeline_lock_can_log() -> None:
    stream = GatedStream()
    handle = logging_ext.configure_logging("orders", stream=stream)
    holder = threading.Thread(
        target=lambda: logging.getLogger("orders").info("held"), name="holder"
    )
    try:
        holder.start()
        assert stream.entered.wait(CHILD_DEADLINE_S), "the holder never started writing"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                logging.getLogger("orders.child").info("from the child")
                ok = [r["message"] for r in stream.records] == ["from the child"]
                code = 0 if ok else 3
            finally:
                os._exit(code)
        exit_code = _wait_for_child(pid, CHILD_DEADLINE_S)
    finally:
        stream.gate.set()
        holder.join(CHILD_DEADLINE_S)
        handle.close()
    assert exit_code is not None, "the child deadlocked on its first log line"
    assert exit_code == 0
    assert [r["message"] for r in stream.records] == ["held"]

"""devstack.processes: the one child-process supervisor, with real child processes.

Every child is a ``python -c`` program: it says "ready" by creating a file, logs to stdout
and stderr, and records a SIGTERM in a file before exiting, so the tests see what the
supervisor did without any fixed sleep (waits are on conditions, with deadlines).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.processes import (
    ChildProcess,
    ProcessError,
    ProcessGroup,
    ServerProcess,
    http_ready,
    port_is_free,
    tcp_ready,
)

REPO = Path(__file__).resolve().parents[3]

# A child that logs, handles SIGTERM (records it, exits 0, or ignores it), then says ready.
_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    name, ready, stops, mode = sys.argv[1:5]
    def on_term(signum, frame):
        with open(stops, "a") as f:
            f.write(name + "\\n")
        if mode != "ignore-term":
            sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print(f"{name} out", flush=True)
    print(f"{name} err", file=sys.stderr, flush=True)
    if mode == "crash":
        sys.exit(3)
    if mode != "never-ready":
        open(ready, "w").close()
    while True:
        time.sleep(0.05)
    """
)


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _child(tmp_path: Path, name: str, mode: str = "normal") -> ChildProcess:
    ready = tmp_path / f"{name}.ready"
    stops = tmp_path / "stops"
    return ChildProcess(
        name,
        [sys.executable, "-c", _CHILD, name, str(ready), str(stops), mode],
        log_path=tmp_path / "logs" / f"{name}.log",
        ready=ready.exists,
    )


def _stops(tmp_path: Path) -> list[str]:
    path = tmp_path / "stops"
    return path.read_text().split() if path.exists() else []


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper (it no longer runs)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_start_waits_for_ready_and_stop_sends_sigterm(tmp_path: Path) -> None:
    child = _child(tmp_path, "one")
    child.start(timeout=30)
    assert child.poll() is None  # running
    assert (tmp_path / "one.ready").exists()
    pid = child.pid
    assert pid is not None
    child.stop(timeout=10)
    assert not child.running
    assert child.exit_code == 0  # it handled SIGTERM and exited cleanly
    assert _stops(tmp_path) == ["one"]
    assert child.pid is None
    child.stop()  # idempotent
    assert child.exit_code == 0


def test_stdout_and_stderr_go_to_the_log_file(tmp_path: Path) -> None:
    with _child(tmp_path, "talker") as child:
        _until(lambda: "talker err" in child.log_tail(), "the log lines")
        assert set(child.log_tail().splitlines()) >= {"talker out", "talker err"}
    assert child.log_path == tmp_path / "logs" / "talker.log"


def test_sigkill_after_the_timeout_when_sigterm_is_ignored(tmp_path: Path) -> None:
    child = _child(tmp_path, "stubborn", "ignore-term").start(timeout=30)
    child.stop(timeout=0.5)
    assert _stops(tmp_path) == ["stubborn"]  # it got the SIGTERM first
    assert child.exit_code == -9  # then SIGKILL


def test_a_child_that_exits_during_start_up_is_an_error_with_its_log(tmp_path: Path) -> None:
    child = _child(tmp_path, "crasher", "crash")
    with pytest.raises(ProcessError, match=r"crasher exited with code 3 during start-up") as err:
        child.start(timeout=30)
    assert "crasher err" in str(err.value)
    assert not child.running
    assert child.exit_code == 3


def test_a_child_never_ready_is_stopped_after_the_deadline(tmp_path: Path) -> None:
    child = _child(tmp_path, "mute", "never-ready")
    with pytest.raises(ProcessError, match="mute did not answer within"):
        child.start(timeout=0.5)
    assert not child.running
    assert _stops(tmp_path) == ["mute"]


def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    child = ChildProcess("ghost", [str(tmp_path / "no-such-program")], log_path=tmp_path / "g")
    with pytest.raises(ProcessError, match="ghost: cannot run"):
        child.launch()


def test_run_returns_the_exit_code_of_a_one_shot(tmp_path: Path) -> None:
    code = "import sys; print('done'); sys.exit(4)"
    job = ChildProcess("job", [sys.executable, "-c", code], log_path=tmp_path / "job.log")
    assert job.run(timeout=30) == 4
    assert job.log_tail() == "done"
    slow = _child(tmp_path, "slow")
    with pytest.raises(ProcessError, match="slow did not finish within"):
        slow.run(timeout=0.5)
    assert not slow.running


def test_the_environment_and_working_directory_are_the_given_ones(tmp_path: Path) -> None:
    code = "import os; print(os.getcwd(), os.environ.get('ONLY'), 'HOME' in os.environ)"
    job = ChildProcess(
        "env",
        [sys.executable, "-c", code],
        log_path=tmp_path / "env.log",
        env={"ONLY": "this", "PATH": os.environ.get("PATH", "")},
        cwd=tmp_path / "work",
    )
    assert job.run(timeout=30) == 0
    assert job.log_tail() == f"{tmp_path / 'work'} this False"


def test_a_child_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """The parent is SIGKILLed (no chance to clean up): its child still goes away."""
    pid_file = tmp_path / "grandchild.pid"
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from devstack.processes import ChildProcess
        child = ChildProcess(
            "orphan-to-be", [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"],
            log_path=Path({str(tmp_path / "orphan.log")!r}),
        )
        child.start()
        Path({str(pid_file)!r}).write_text(str(child.pid))
        while True:
            time.sleep(1)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        _until(lambda: pid_file.exists() and pid_file.read_text() != "", "the child's pid")
        grandchild = int(pid_file.read_text())
        assert not _dead(grandchild)
        parent.kill()
        parent.wait(10)
        _until(lambda: _dead(grandchild), "the child to die with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_a_group_stops_in_reverse_order_of_start(tmp_path: Path) -> None:
    group = ProcessGroup()
    for name in ("kafka", "elasticsearch", "shipper", "api"):
        group.start(_child(tmp_path, name), timeout=30)
    assert group.failed() is None
    group.stop(timeout=10)
    assert _stops(tmp_path) == ["api", "shipper", "elasticsearch", "kafka"]
    assert all(child.exit_code == 0 for child in group)


def test_a_group_reports_a_child_that_exited_on_its_own(tmp_path: Path) -> None:
    group = ProcessGroup()
    first = group.start(_child(tmp_path, "first"), timeout=30)
    group.start(_child(tmp_path, "second"), timeout=30)
    assert first.pid is not None
    os.kill(first.pid, 9)
    _until(lambda: group.failed() is not None, "the failure to be seen")
    problem = group.failed()
    assert problem is not None
    assert problem.startswith("first exited with code -9")
    group.stop()


def test_start_all_launches_together_and_a_failure_stops_every_child(tmp_path: Path) -> None:
    group = ProcessGroup()
    for name in ("a", "b", "c"):
        group.add(_child(tmp_path, name))
    group.start_all(timeout=30)
    assert all(child.running for child in group)
    group.stop(timeout=10, parallel=True)
    assert sorted(_stops(tmp_path)) == ["a", "b", "c"]
    assert not any(child.running for child in group)

    broken = ProcessGroup()
    for name, mode in (("x", "normal"), ("y", "crash"), ("z", "normal")):
        broken.add(_child(tmp_path, name, mode))
    with pytest.raises(ProcessError, match="y exited with code 3"):
        broken.start_all(timeout=30)
    assert not any(child.running for child in broken)


def test_a_server_needs_its_port_free_and_probes_find_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert tcp_ready("127.0.0.1", port)
        assert not http_ready("127.0.0.1", port, timeout=0.2)  # it never answers
        server = ServerProcess(
            "web", [sys.executable, "-m", "http.server"], port=port, log_path=tmp_path / "w"
        )
        with pytest.raises(ProcessError, match=rf"web: port 127.0.0.1:{port} is already in use"):
            server.launch()
    # port=None: a free loopback port, chosen at construction, for the command to use.
    port = ServerProcess("web", port=None, log_path=tmp_path / "unused").port
    assert port_is_free(port)
    web = ServerProcess(
        "web",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        port=port,
        log_path=tmp_path / "web.log",
        cwd=tmp_path,
        ready=lambda: http_ready("127.0.0.1", port, "/"),
    )
    with web:
        assert http_ready("127.0.0.1", port, "/")
    assert not tcp_ready("127.0.0.1", port)

"""One live daemon for the contract tests: ``modemd serve --simulate 2`` as a subprocess, keys
made with ``modemd keys create``, and a real IPN receiver on 127.0.0.1 that keeps raw bodies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from api_docs.live import (
    MODEMD,
    PIN,
    READY_TIMEOUT_S,
    SPEC_FILE,
    STOP_TIMEOUT_S,
    Daemon,
    create_key,
    start_receiver,
)


@pytest.fixture(scope="package")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text("utf-8"))
    return loaded


@pytest.fixture(scope="module")  # each test file gets a quiet queue of its own
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("daemon")
    db = tmp / "modemd.db"
    server, receiver = start_receiver()
    threading.Thread(target=server.serve_forever, name="ipn receiver", daemon=True).start()
    ipn_url = f"http://127.0.0.1:{receiver.port}/ipn"
    local, ipn_secret = create_key(db, PIN, "--allow-ip", "127.0.0.1", "--ipn-url", ipn_url)
    keys = {
        "local": local,
        "any": create_key(db, PIN, "--over-ip")[0],
        "remote": create_key(db, PIN, "--allow-ip", "192.0.2.1")[0],
        "other_pin": create_key(db, "9999", "--over-ip")[0],
    }
    # The fuzz sends wrong keys on purpose, hundreds a minute: the per-address throttle
    # (tested in tests/api) would answer most of its requests 429 before they reach the route.
    config = db.parent / "modemd.toml"
    config.write_text("[server]\nfailed_auth_per_minute = 1000000\n")
    proc = subprocess.Popen(
        [
            *MODEMD,
            "serve",
            "--config",
            str(config),
            "--simulate",
            "2",
            "--pin",
            PIN,
            "--db",
            str(db),
            "--port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    log: list[str] = []
    port = None
    timer = threading.Timer(READY_TIMEOUT_S, proc.kill)
    timer.start()
    for line in proc.stderr:
        log.append(line)
        if match := re.search(r"API listening on http://[\d.]+:(\d+)", line):
            port = int(match.group(1))
            break
    timer.cancel()
    assert port is not None, "daemon did not start:\n" + "".join(log)
    stderr = proc.stderr
    drain = threading.Thread(target=lambda: log.extend(stderr), name="daemon log", daemon=True)
    drain.start()
    try:
        yield Daemon(f"http://127.0.0.1:{port}", db, keys, ipn_secret, receiver, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        drain.join(5)
        server.shutdown()
        server.server_close()
    assert code == 0, "".join(log)

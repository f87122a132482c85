"""Pieces of the live daemon fixture: keys, a real IPN receiver on 127.0.0.1 (raw bodies)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).parents[2] / "api" / "openapi.yaml"
MODEMD = [sys.executable, "-m", "modemd"]
PIN = "4711"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


@dataclass
class Ipn:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """IPNs as they arrived (raw bytes: signatures cover them)."""

    port: int
    got: list[Ipn] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, wanted: Any, timeout: float = 30.0) -> list[Ipn]:
        """Block until ``wanted(got)`` is true; return ``got``."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: wanted(self.got), timeout), self.got
            return list(self.got)


@dataclass
class Daemon:
    url: str
    db: Path
    keys: dict[str, str]  # name -> secret API key
    ipn_secret: str | None  # the local key's signing secret, if `keys create` printed one
    receiver: Receiver
    log: list[str]


def start_receiver() -> tuple[ThreadingHTTPServer, Receiver]:
    receiver = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.arrived:
                receiver.got.append(Ipn({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.arrived.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    return server, receiver


def create_key(db: Path, pin: str, *options: str) -> tuple[str, str | None]:
    """``modemd keys create``: the API key (last line) and a ``whsec_`` secret if printed."""
    out = subprocess.run(
        [*MODEMD, "keys", "create", "--pin", pin, *options, "--db", str(db)],
        check=True,
        capture_output=True,
        text=True,
    )
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", out.stdout + out.stderr)
    return out.stdout.strip().splitlines()[-1], secret.group(0) if secret else None

#!/usr/bin/env python3
"""modemd sample (Python 3, standard library only): send an SMS, send a CSV file as a
campaign, verify an IPN signature.

  MODEMD_APIKEY=mdk_... python3 sample.py send +393331234567 "Hello"
  MODEMD_APIKEY=mdk_... python3 sample.py bulk clients.csv "Hello {name}"   (columns to,name)
  python3 sample.py verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
                                              WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

URL = os.environ.get("MODEMD_URL", "http://127.0.0.1:8080")
PIN = os.environ.get("MODEMD_PIN", "YOUR_PIN")
TOLERANCE_S = 300  # Standard Webhooks: refuse signatures older or newer than 5 minutes


def call(path: str, body: bytes, content_type: str = "application/json") -> dict:
    """POST to the API with the key; the JSON answer (4xx/5xx carry one too), printed."""
    request = urllib.request.Request(
        URL.rstrip("/") + path,
        data=body,
        headers={
            "Content-Type": content_type,
            "Authorization": "Bearer " + os.environ["MODEMD_APIKEY"],
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        answer = json.load(error)
    print(json.dumps(answer))
    return answer


def send(to: str, msg: str) -> bool:
    """POST /api/v1/send; True when accepted (status_code 1 or 2)."""
    answer = call("/api/v1/send", json.dumps({"pin": PIN, "to": to, "msg": msg}).encode())
    return answer.get("status_code") in ("1", "2")


def bulk(path: str, template: str) -> bool:
    """POST a CSV file as a campaign (its validation report), then start it."""
    query = urllib.parse.urlencode({"pin": PIN, "template": template})
    with open(path, "rb") as f:
        draft = call("/api/v1/campaigns?" + query, f.read(), "text/csv")
    if draft.get("response") != "200":
        return False
    started = call(f"/api/v1/campaigns/{draft['campaign']['campaign_id']}/start", b"")
    return started.get("response") == "200"


def verify_ipn(secret: str, msg_id: str, timestamp: str, signature: str, body: bytes) -> bool:
    """True when ``body`` is an IPN signed with ``secret`` (whsec_...) less than 5 min ago."""
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signature.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "send"
    if mode == "send":
        to = argv[2] if len(argv) > 2 else os.environ.get("MODEMD_TO", "")
        msg = argv[3] if len(argv) > 3 else os.environ.get("MODEMD_MSG", "Hello from modemd")
        return 0 if send(to, msg) else 1
    if mode == "bulk" and len(argv) > 3:
        return 0 if bulk(argv[2], argv[3]) else 1
    if mode == "verify":
        ok = verify_ipn(
            os.environ["MODEMD_IPN_SECRET"],
            os.environ.get("WEBHOOK_ID", ""),
            os.environ.get("WEBHOOK_TIMESTAMP", "0"),
            os.environ.get("WEBHOOK_SIGNATURE", ""),
            sys.stdin.buffer.read(),
        )
        print("valid" if ok else "invalid")
        return 0 if ok else 1
    print("usage: sample.py [send [TO [MSG]] | bulk FILE TEMPLATE | verify]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""``modemd campaigns``: send a file as a campaign through the running daemon (validation
report, confirmation, live progress), and list, show, pause, resume or cancel campaigns."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import click

from modemd.cli.common import key_option, main, url_option

POLL_S = 0.5  # progress is asked for this often
PLAIN_EVERY_S = 5.0  # without a terminal: one progress line this often
BAR_WIDTH = 30
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Jobs that left the queue, and recipients skipped because they opted out meanwhile
LEFT_QUEUE = ("sent", "delivered", "failed", "unknown", "expired", "lapsed", "cancelled")
DEALT_WITH = (*LEFT_QUEUE, "opted_out", "limited")
UNSETTLED = ("queued", "sending", "sent")  # --wait-delivered waits until none is in these
NOT_OK = ("failed", "unknown", "lapsed", "cancelled")


def _request(
    url: str,
    path: str,
    key: str,
    *,
    method: str = "GET",
    data: bytes | BinaryIO | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Call the daemon's API; the answer's JSON (whatever its status)."""
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=data,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from exc
    try:
        answer: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise click.ClickException(f"{url} answered something that is not JSON") from exc
    return answer


def _ok(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer's campaign, or exit 1 with its message."""
    if answer.get("response") != "200":
        click.echo(f"refused ({answer.get('response')}): {answer.get('message')}", err=True)
        if "report" in answer:
            _print_report(answer["report"])
        sys.exit(1)
    return answer


def _print_report(report: dict[str, Any]) -> None:
    click.echo(
        f"rows {report['rows']}: {report['valid']} valid, {report['invalid_count']} invalid, "
        f"{report['duplicates']} duplicates"
    )
    for field in ("opted_out", "blocked"):
        shown = "not checked" if report.get(field) is None else report[field]
        click.echo(f"{field.replace('_', ' ')}: {shown}")
    for listed, count in (
        ("invalid", report["invalid_count"]),
        ("blocked_rows", report.get("blocked") or 0),
    ):
        items = report.get(listed, [])
        for item in items:
            click.echo(f"  row {item['row']} column {item['column'] or '-'}: {item['reason']}")
        if count > len(items):
            click.echo(f"  ... and {count - len(items)} more")
    parts = ", ".join(f"{n} {enc}" for enc, n in report.get("parts", {}).items()) or "none"
    click.echo(f"parts: {report.get('total_parts', 0)} ({parts})")
    if report.get("estimated_cost") is not None:
        click.echo(f"estimated cost: {report['estimated_cost']}")
    seconds = report.get("estimated_time_s")
    click.echo(
        f"estimated time: {seconds:.0f} s on {report.get('devices')} devices"
        if seconds is not None
        else "estimated time: unknown (no device in the pool now)"
    )


@main.group()
def campaigns() -> None:
    """Bulk sends from a file, through the running daemon."""


@campaigns.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pin", default=None, help="Pool (default: the key's).")
@click.option("--template", required=True, help="Message text; {column} placeholders.")
@key_option
@url_option
@click.option("--at", "send_at", default=None, help="Start time: ISO-8601 with offset.")
@click.option("--name", default="", help="A name to recognise the campaign by.")
@click.option("--rate", "rate_per_min", type=int, default=None, help="At most N per minute.")
@click.option("--dry-run", is_flag=True, help="Only the validation report; nothing is created.")
@click.option("--yes", is_flag=True, help="Do not ask before sending.")
@click.option("--wait", is_flag=True, help="Show progress until every job left the queue.")
@click.option("--wait-delivered", is_flag=True, help="... and until every status report came.")
def send(
    file: Path,
    pin: str | None,
    template: str,
    key: str,
    url: str,
    send_at: str | None,
    name: str,
    rate_per_min: int | None,
    dry_run: bool,
    yes: bool,
    wait: bool,
    wait_delivered: bool,
) -> None:
    """Validate FILE (CSV or XLSX) as a campaign, then start it."""
    query = {"template": template, "name": name, "dry_run": "1" if dry_run else ""}
    query.update({k: v for k, v in (("pin", pin), ("send_at", send_at)) if v})
    if rate_per_min is not None:
        query["rate_per_min"] = str(rate_per_min)
    path = "/api/v1/campaigns?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
    with file.open("rb") as body:
        content_type = XLSX_TYPE if body.read(4) == b"PK\x03\x04" else "text/csv"
        body.seek(0)
        answer = _ok(
            _request(
                url,
                path,
                key,
                method="POST",
                data=body,
                headers={
                    "Content-Type": content_type,
                    "Content-Length": str(file.stat().st_size),
                },
            )
        )
    campaign = answer["campaign"]
    _print_report(campaign["report"])
    if dry_run:
        return
    campaign_id = campaign["campaign_id"]
    click.echo(f"campaign {campaign_id}")
    if not yes and sys.stdin.isatty() and not click.confirm("Start sending?", default=False):
        _request(url, f"/api/v1/campaigns/{campaign_id}/cancel", key, method="POST")
        click.echo("not started: the draft is cancelled")
        sys.exit(1)
    _ok(_request(url, f"/api/v1/campaigns/{campaign_id}/start", key, method="POST"))
    click.echo("started")
    if wait or wait_delivered:
        final = _watch(url, key, campaign_id, wait_delivered)
        counts = final["counts"]
        left = sum(counts[s] for s in DEALT_WITH)
        states = ", ".join(f"{s} {counts[s]}" for s in (*DEALT_WITH, "queued") if counts[s])
        click.echo(f"done: {left} of {final['total']} left the queue: {states}")
        if any(counts[s] for s in NOT_OK):
            sys.exit(1)


def _watch(url: str, key: str, campaign_id: str, delivered: bool) -> dict[str, Any]:
    """Progress until the campaign is finished (with ``delivered``: and every report came)."""
    terminal = sys.stdout.isatty()
    last_plain = 0.0
    while True:
        shown = _ok(_request(url, f"/api/v1/campaigns/{campaign_id}", key))["campaign"]
        counts = shown["counts"]
        finished = shown["state"] in ("done", "cancelled")
        if delivered:
            finished = finished and not any(counts[s] for s in UNSETTLED)
        now = time.monotonic()
        if terminal:
            click.echo("\r" + progress_line(shown, bar=True), nl=False)
        elif finished or now - last_plain >= PLAIN_EVERY_S:
            click.echo(progress_line(shown, bar=False))
            last_plain = now
        if finished:
            if terminal:
                click.echo()
            return shown
        time.sleep(POLL_S)


def progress_line(shown: dict[str, Any], *, bar: bool) -> str:
    """``[#####-----]  50% sent 10 delivered 8 failed 0 rate 3.2/s ETA 3 s``."""
    counts, total = shown["counts"], max(shown["total"], 1)
    eta = "-" if shown["eta_s"] is None else f"{shown['eta_s']:.0f} s"
    left = sum(counts[s] for s in DEALT_WITH)
    done_share = left / total
    text = (
        f"{done_share:4.0%} sent {counts['sent'] + counts['delivered']} "
        f"delivered {counts['delivered']} failed {counts['failed'] + counts['unknown']} "
        f"rate {shown['rate_per_s'] or 0:.1f}/s "
        f"ETA {eta}"
    )
    if not bar:
        return f"{shown['campaign_id']} {shown['state']} {text}"
    filled = round(done_share * BAR_WIDTH)
    return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {text}"


def _act(action: str) -> Any:
    @campaigns.command(action, help=f"{action.capitalize()} a campaign.")
    @click.argument("campaign_id")
    @key_option
    @url_option
    def command(campaign_id: str, key: str, url: str) -> None:
        answer = _ok(_request(url, f"/api/v1/campaigns/{campaign_id}/{action}", key, method="POST"))
        click.echo(f"{campaign_id}: {answer['campaign']['state']}")

    return command


for _action in ("pause", "resume", "cancel"):
    _act(_action)


def _lister(group: click.Group, path: str, line: Callable[[dict[str, Any]], str], doc: str) -> None:
    """``GROUP list``: one line per row of ``GET path`` (its answer's list is named as the
    path's last word)."""

    @group.command("list", help=doc)
    @key_option
    @url_option
    def command(key: str, url: str) -> None:
        for row in _ok(_request(url, path, key))[path.rsplit("/", 1)[-1]]:
            click.echo(line(row))


_lister(
    campaigns,
    "/api/v1/campaigns",
    lambda row: (
        f"{row['campaign_id']}  {row['state']:<9}  {row['queued']}/{row['total']}  {row['name']}"
    ),
    "The key's campaigns, newest first.",
)


@campaigns.command("show")
@click.argument("campaign_id")
@key_option
@url_option
def show(campaign_id: str, key: str, url: str) -> None:
    """One campaign with its report and counts, as JSON."""
    answer = _ok(_request(url, f"/api/v1/campaigns/{campaign_id}", key))
    click.echo(json.dumps(answer["campaign"], indent=2))


@main.group()
def schedules() -> None:
    """Repeated sends: each slot of a cron expression or RRULE makes one campaign."""


@schedules.command("add")
@click.option("--template", required=True, help="Message text; {column} placeholders.")
@click.option("--cron", default=None, help='A cron expression, e.g. "30 9 * * 1-5".')
@click.option("--rrule", default=None, help='An RFC 5545 RRULE, e.g. "FREQ=WEEKLY;BYDAY=MO".')
@click.option("--tz", "timezone", default="UTC", show_default=True, help="IANA time zone.")
@click.option(
    "--missed",
    type=click.Choice(["skip", "run_once"]),
    default="run_once",
    show_default=True,
    help="Slots that came while the daemon was down.",
)
@click.option("--name", default="", help="A name to recognise the schedule by.")
@click.option("--to", "numbers", multiple=True, help="A recipient (repeat).")
@click.option(
    "--recipients",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='A JSON file: ["+39...", {"to": "+39...", "name": "Anna"}].',
)
@key_option
@url_option
def add_schedule(
    template: str,
    cron: str | None,
    rrule: str | None,
    timezone: str,
    missed: str,
    name: str,
    numbers: tuple[str, ...],
    recipients: Path | None,
    key: str,
    url: str,
) -> None:
    """Add a schedule (through the running daemon); prints it with its next slots."""
    listed: list[Any] = list(numbers)
    if recipients is not None:
        try:
            loaded = json.loads(recipients.read_text("utf-8"))
        except ValueError as exc:
            raise click.ClickException(f"{recipients}: not JSON: {exc}") from exc
        if not isinstance(loaded, list):
            raise click.ClickException(f"{recipients}: a JSON list is needed")
        listed += loaded
    payload = {
        "template": template,
        "timezone": timezone,
        "missed": missed,
        "name": name,
        "recipients": listed,
        **({"cron": cron} if cron else {}),
        **({"rrule": rrule} if rrule else {}),
    }
    answer = _ok(
        _request(
            url,
            "/api/v1/schedules",
            key,
            method="POST",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
    )
    click.echo(json.dumps(answer["schedule"], indent=2))


_lister(
    schedules,
    "/api/v1/schedules",
    lambda row: (
        f"{row['schedule_id']}  {row['kind']} {row['expression']!r} {row['timezone']}  "
        f"next {row['next_slot']}  {row['name']}"
    ),
    "The key's schedules with their next slot.",
)


@schedules.command("remove")
@click.argument("schedule_id")
@key_option
@url_option
def remove_schedule(schedule_id: str, key: str, url: str) -> None:
    """Stop a schedule (its past runs stay)."""
    _ok(_request(url, f"/api/v1/schedules/{schedule_id}", key, method="DELETE"))
    click.echo(f"{schedule_id}: removed")

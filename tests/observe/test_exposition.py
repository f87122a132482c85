"""The /metrics page written out by ``observe.exposition`` is byte for byte prometheus_client's
own, on the daemon's real registry filled the way the daemon fills it (label values that need
escaping included), and a registry holding a kind it does not write goes to prometheus_client."""

from __future__ import annotations

import time

import prometheus_client
from builders import device_row
from prometheus_client import CollectorRegistry, Gauge, Info
from prometheus_client.utils import floatToGoString

from modemd.model import Job, JobState
from modemd.observe import exposition
from modemd.observe.metrics import Metrics
from modemd.store.stats import Activity, Snapshot, Watermark

ODD_IDS = ["350000000000001", 'quote"d', "back\\slash", "new\nline"]


def _job() -> Job:
    now = time.time()
    return Job(
        job_id="job_1", key_id=1, pin="7", to="+3161234", message="hi", parts=1,
        encoding="gsm7", state=JobState.SENDING, created_at=now - 0.5, updated_at=now,
    )  # fmt: skip


def _filled() -> Metrics:
    metrics = Metrics()
    devices = [device_row(d) for d in ODD_IDS]
    snap = Snapshot(
        queued={"7": 4},
        lanes={("7", "high"): 3, ("7", "bulk"): 1},
        devices=devices,
        dead_letters=2,
        parts_today={d: 3 for d in ODD_IDS},
        parts_month={d: 30 for d in ODD_IDS},
        disabled_endpoints=1,
    )
    activity = Activity(
        mark=Watermark(),
        accepted={"7": 5},
        finished={("7", "sent"): 4, ("7", "failed"): 1},
        ipn_attempts=6,
        ipn_failures=1,
        received={("7", ODD_IDS[1]): 2},
    )
    metrics._apply(activity, snap)
    for n, device_id in enumerate(ODD_IDS):
        metrics.send_started(_job(), device_id)
        metrics.send_finished(_job(), device_id, "ok" if n else "cms_500", 2.5 + n)
    metrics.commit.observe(0.0004)
    metrics.commit.observe(3.0)  # past the last bucket: +Inf only
    metrics.observe_loop(0.03, {"machine": 0.02})
    return metrics


def test_the_page_is_prometheus_clients_byte_for_byte() -> None:
    registry = _filled().registry
    ours = exposition.render(registry)
    assert ours == prometheus_client.generate_latest(registry)
    assert b'device_id="quote\\"d"' in ours and b'device_id="new\\nline"' in ours


def test_a_kind_it_does_not_write_goes_to_prometheus_client() -> None:
    registry = CollectorRegistry()
    Info("modemd_build", "Build", registry=registry).info({"version": "1"})
    assert exposition.render(registry) == prometheus_client.generate_latest(registry)


def test_the_lines_kept_between_scrapes_follow_the_devices() -> None:
    """Each series' line up to its value is kept from one scrape to the next: a device gone
    takes its lines with it, one come back brings them, the values are each scrape's own."""
    metrics = _filled()
    gone = ODD_IDS[2]
    for devices in (ODD_IDS, [d for d in ODD_IDS if d != gone], ODD_IDS):
        snap = Snapshot(
            queued={"7": 1},
            lanes={("7", "high"): 1},
            devices=[device_row(d, state="busy", signal=5) for d in devices],
            dead_letters=0,
            parts_today={d: 7 for d in devices},
            parts_month={d: 70 for d in devices},
            disabled_endpoints=0,
        )  # fmt: skip
        metrics._apply(Activity(mark=Watermark()), snap)
        ours = exposition.render(metrics.registry)
        assert ours == prometheus_client.generate_latest(metrics.registry)
        assert (b'modemd_device_up{device_id="back\\\\slash"' in ours) == (gone in devices)


def test_values_are_written_as_prometheus_client_writes_them() -> None:
    values = [0.0, -0.0, 1.0, -1.0, -73.0, 999.0, -1000.0, 1000.0, 1e6, 2.5, 1e-7, 123456789.0]
    values += [float("inf"), float("-inf"), float("nan"), 3, True]
    for value in values:
        assert exposition._value(value) == floatToGoString(value), value


def test_two_registries_with_a_name_in_common_keep_their_own_lines() -> None:
    one, other = CollectorRegistry(), CollectorRegistry()
    Gauge("z", "Doc", ["device_id"], registry=one).labels("1").set(1)
    Gauge("z", "Doc", ["pin"], registry=other).labels("1").set(1)
    for registry in (one, other, one):
        assert exposition.render(registry) == prometheus_client.generate_latest(registry)

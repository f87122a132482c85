"""The levels of /metrics (devices, queues, parts) follow the store's snapshot from one scrape to
the next: kept between scrapes, a device's series leave the page with its row and come back
with it. Real metrics, rendered and parsed by Prometheus' own parser; the snapshot as the store
reads it, written out."""

from __future__ import annotations

from builders import device_row
from prometheus_client.parser import text_string_to_metric_families

from modemd.observe.metrics import Metrics
from modemd.store.stats import Activity, DeviceRow, Snapshot, Watermark

DEVICE_SERIES = {
    "modemd_device_up",
    "modemd_device_failed",
    "modemd_device_signal_dbm",
    "modemd_device_parts",
}


def _device(n: int, *, signal: int | None = 20, state: str = "ready") -> DeviceRow:
    return device_row(
        f"35000000000000{n}", state=state, signal=signal, iccid=f"893900000000000000{n}"
    )


def _scrape(metrics: Metrics, devices: list[DeviceRow]) -> dict[str, dict[tuple, float]]:
    snap = Snapshot(
        queued={"7": 2},
        lanes={("7", "high"): 2},
        devices=devices,
        dead_letters=0,
        parts_today={d.device_id: 3 for d in devices},
        parts_month={d.device_id: 30 for d in devices},
        disabled_endpoints=0,
    )
    metrics._apply(Activity(mark=Watermark()), snap)
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found


def _devices_shown(found: dict[str, dict[tuple, float]]) -> dict[str, set[str]]:
    return {
        name: {dict(labels)["device_id"] for labels in found.get(name, {})}
        for name in DEVICE_SERIES
    }


def test_a_device_leaves_the_page_with_its_row_and_comes_back_with_it() -> None:
    metrics = Metrics()
    one, two, three = _device(1), _device(2), _device(3, state="failed")
    ids = {d.device_id for d in (one, two, three)}
    first = _scrape(metrics, [one, two, three])
    assert all(shown == ids for shown in _devices_shown(first).values())
    assert first["modemd_pool_ready_devices"] == {(("pin", "7"),): 2.0}
    without = _scrape(metrics, [one, three])
    assert all(shown == ids - {two.device_id} for shown in _devices_shown(without).values())
    assert without["modemd_pool_ready_devices"] == {(("pin", "7"),): 1.0}
    back = _scrape(metrics, [one, two, three])
    assert back == first


def test_a_series_not_set_again_goes_and_a_changed_one_follows() -> None:
    metrics = Metrics()
    _scrape(metrics, [_device(1), _device(2)])
    found = _scrape(metrics, [_device(1, signal=None), _device(2, state="failed")])
    signal = found["modemd_device_signal_dbm"]
    assert signal == {(("device_id", "350000000000002"),): -73.0}  # no reading: no series
    failed = found["modemd_device_failed"]
    assert failed[(("device_id", "350000000000002"), ("pin", "7"))] == 1.0
    assert failed[(("device_id", "350000000000001"), ("pin", "7"))] == 0.0

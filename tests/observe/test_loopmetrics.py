"""observe.loopmetrics: the lock-free histogram and counter the sends update put the same lines
on the page as prometheus_client's, for the same observations (bucket bounds themselves, values
past the last bound and zero included)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from modemd.observe import exposition
from modemd.observe.loopmetrics import LoopCounter, LoopHistogram, LoopLevels
from modemd.observe.metrics import DISPATCH_BUCKETS_S

VALUES = [0.0, 0.001, 0.005, 0.0051, 0.3, 1.0, 2.5, 299.9, 300.0, 1800.0, 1800.5, 7200.0]


def test_the_histogram_puts_the_same_lines_on_the_page() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("x_seconds", "Doc", buckets=DISPATCH_BUCKETS_S, registry=theirs)
    light = LoopHistogram("x_seconds", "Doc", DISPATCH_BUCKETS_S, ours)
    assert generate_latest(ours) == generate_latest(theirs)  # empty
    for value in VALUES:
        reference.observe(value)
        light.observe(value)
    assert generate_latest(ours) == generate_latest(theirs)
    assert exposition.render(ours) == generate_latest(theirs)
    assert b'x_seconds_bucket{le="0.005"} 3.0' in generate_latest(ours)  # 0, 0.001, 0.005


def test_the_counter_puts_the_same_lines_on_the_page() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Counter("y", "Doc", ["device_id", "result"], registry=theirs)
    light = LoopCounter("y", "Doc", ["device_id", "result"], ours)
    for labels in [("a", "ok"), ("b", "cms_500"), ("a", "ok"), ("a", "unknown")]:
        reference.labels(*labels).inc()
        light.inc(labels)
    assert generate_latest(ours) == generate_latest(theirs)
    assert b'y_total{device_id="a",result="ok"} 2.0' in generate_latest(ours)


def test_the_levels_put_the_same_lines_on_the_page_and_drop_a_series_not_set_again() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Gauge("z", "Doc", ["device_id", "pin"], registry=theirs)
    light = LoopLevels("z", "Doc", ["device_id", "pin"], ours)
    for labels, value in [(("a", "7"), 1), (("b", "7"), 0), (("c", "8"), -73)]:
        reference.labels(*labels).set(value)
        light.set(labels, value)
    light.done()
    assert generate_latest(ours) == generate_latest(theirs)
    reference.remove("b", "7")  # the next scrape sets the others only
    reference.labels("a", "7").set(0)
    light.set(("a", "7"), 0)
    light.set(("c", "8"), -73)
    light.done()
    assert generate_latest(ours) == generate_latest(theirs)
    assert b'z{device_id="b"' not in generate_latest(ours)


def test_the_counter_adds_amounts_and_shows_a_series_at_zero() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Counter("r", "Doc", ["pin", "device_id"], registry=theirs)
    light = LoopCounter("r", "Doc", ["pin", "device_id"], ours)
    reference.labels("7", "a")
    light.show(("7", "a"))
    reference.labels("7", "b").inc(3)
    light.inc(("7", "b"), 3)
    light.show(("7", "b"))  # shown again: its count stays
    assert generate_latest(ours) == generate_latest(theirs)
    assert b'r_total{device_id="a",pin="7"} 0.0' in generate_latest(ours)

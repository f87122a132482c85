"""The /metrics page in Prometheus' text format (0.0.4), written out from our own registry.

The same bytes as ``prometheus_client.generate_latest`` (``tests/observe/test_exposition.py``)
for the kinds our registry holds (counters, gauges, histograms, whose names are all plain),
without its per-sample checks of names that never change: with 256 devices (~1,900 samples)
its formatting held the event loop ~16 ms a scrape. Any other kind: prometheus_client's own."""

from __future__ import annotations

from math import copysign

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

KINDS = frozenset({"counter", "gauge", "histogram"})  # the kinds written out here
# A sample's name and label values -> its line up to the value, kept from one scrape to the
# next (a page holds the same series each time: with 256 devices ~1,900 of them, whose labels'
# sorting, escaping and joining were a third of the page's time); cleared when it outgrows them
_HEADS: dict[tuple[str, ...], str] = {}
HEADS_SLACK = 2  # cleared past this many times the series of the last page (devices gone)
# samples prometheus_client moves to a gauge family of their own at the end (OpenMetrics')
MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")


def render(registry: CollectorRegistry) -> bytes:
    """``registry`` as the text format."""
    metrics = list(registry.collect())
    if any(
        metric.type not in KINDS
        or (  # a gauge's samples are never moved: not looked at (most of a page's samples)
            metric.type != "gauge" and any(s.name.endswith(MOVED_SUFFIXES) for s in metric.samples)
        )
        for metric in metrics
    ):
        return prometheus_client.generate_latest(registry)
    out: list[str] = []
    heads = _HEADS
    series = 0
    for metric in metrics:
        name = f"{metric.name}_total" if metric.type == "counter" else metric.name
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {metric.type}\n")
        series += len(metric.samples)
        for sample in metric.samples:
            key = (sample.name, *sample.labels.values())
            if (head := heads.get(key)) is None:
                head = heads[key] = _head(sample.name, sample.labels)
            out.append(f"{head}{_value(sample.value)}\n")
    if len(heads) > HEADS_SLACK * series:
        heads.clear()
    return "".join(out).encode()


def _head(name: str, labels: dict[str, str]) -> str:
    """A sample's line up to its value: name, labels sorted and escaped, a space."""
    if not labels:
        return f"{name} "
    joined = ",".join(f'{key}="{_escaped(labels[key])}"' for key in sorted(labels))
    return f"{name}{{{joined}}} "


def _value(value: float) -> str:
    """``floatToGoString``, with the small whole numbers most samples hold looked up."""
    if (
        value.__class__ is float
        and value.is_integer()
        and -SMALL <= value < SMALL
        and (value or copysign(1.0, value) > 0)  # -0.0 is written as such
    ):
        return _SMALL[int(value) + SMALL]
    return floatToGoString(value)


SMALL = 1000  # whole numbers within +-SMALL: counts, 0/1 levels, dBm
_SMALL = [floatToGoString(n) for n in range(-SMALL, SMALL)]


def _escaped(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value

"""The /metrics page in Prometheus' text format (0.0.4), written out from our own registry.

The same bytes as ``prometheus_client.generate_latest`` (``tests/observe/test_exposition.py``)
for the kinds our registry holds (counters, gauges, histograms, whose names are all plain),
without its per-sample checks of names that never change: with 256 devices (~1,900 samples)
its formatting held the event loop ~16 ms a scrape. Any other kind: prometheus_client's own."""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

KINDS = frozenset({"counter", "gauge", "histogram"})  # the kinds written out here
# samples prometheus_client moves to a gauge family of their own at the end (OpenMetrics')
MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")


def render(registry: CollectorRegistry) -> bytes:
    """``registry`` as the text format."""
    metrics = list(registry.collect())
    if any(
        metric.type not in KINDS or any(s.name.endswith(MOVED_SUFFIXES) for s in metric.samples)
        for metric in metrics
    ):
        return prometheus_client.generate_latest(registry)
    out: list[str] = []
    for metric in metrics:
        name = f"{metric.name}_total" if metric.type == "counter" else metric.name
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {metric.type}\n")
        for sample in metric.samples:
            value = floatToGoString(sample.value)
            if not sample.labels:
                out.append(f"{sample.name} {value}\n")
                continue
            labels = ",".join(
                f'{key}="{_escaped(sample.labels[key])}"' for key in sorted(sample.labels)
            )
            out.append(f"{sample.name}{{{labels}}} {value}\n")
    return "".join(out).encode()


def _escaped(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value

"""Metrics updated on every send, on the event loop only: plain numbers, no lock.

prometheus_client's histogram takes a lock for its sum and for a bucket at each observation and
walks the buckets in Python (2-7 us an observation on the development VM, two a send), its
counter a lock per increment (1-3 us). These keep a list of bucket counts and a sum, or a dict
of counts, and build their family at a scrape: the same lines on the page. Only the loop's
thread may update them (the scrape reads them there too)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

__all__ = ["LoopCounter", "LoopHistogram", "LoopLevels"]


class LoopHistogram(Collector):
    """An unlabelled histogram: ``observe`` finds its bucket by bisection."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = list(buckets)  # each bucket holds the values <= its bound; +Inf after
        self._les = [floatToGoString(bound) for bound in self._bounds] + ["+Inf"]
        self._counts = [0.0] * (len(self._bounds) + 1)
        self._sum = 0.0
        registry.register(self)

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric(
            [], list(zip(self._les, accumulate(self._counts), strict=True)), self._sum
        )
        yield family


class LoopCounter(Collector):
    """A labelled counter: ``inc`` adds one to the series of its label values."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self._counts: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self._counts[labels] = self._counts.get(labels, 0.0) + amount

    def show(self, labels: tuple[str, ...]) -> None:
        """The series of ``labels`` on the page, at 0 until counted."""
        self._counts.setdefault(labels, 0.0)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, count in self._counts.items():
            family.add_metric(list(labels), count)
        yield family


class LoopLevels(Collector):
    """A labelled gauge that each scrape sets in full: ``set`` each series, then ``done``; a
    series not set again leaves the page (a device gone). prometheus_client's gauge took a
    lock per series at each set and again at each scrape's collection (~15 us a series: with
    256 devices, ~1,500 series held the loop ~20 ms a scrape)."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self._shown: dict[tuple[str, ...], float] = {}
        self._next: dict[tuple[str, ...], float] = {}
        self._named: dict[tuple[str, ...], dict[str, str]] = {}
        registry.register(self)

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self._next[labels] = float(value)

    def done(self) -> None:
        """The scrape set every series it wanted: the page shows those, in the order set."""
        self._shown, self._next = self._next, {}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        named = self._named
        family.samples = [
            Sample(self.name, named.get(labels) or self._name(labels), value)
            for labels, value in self._shown.items()
        ]
        if len(named) > 2 * len(self._shown):  # series gone: their label dicts go too
            named.clear()
        yield family

    def _name(self, labels: tuple[str, ...]) -> dict[str, str]:
        """A series' labels by name, made once (the page reads them, never changes them)."""
        named = self._named[labels] = dict(zip(self.labels, labels, strict=True))
        return named

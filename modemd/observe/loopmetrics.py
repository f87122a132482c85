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
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["LoopCounter", "LoopHistogram"]


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

    def inc(self, labels: tuple[str, ...]) -> None:
        self._counts[labels] = self._counts.get(labels, 0.0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, count in self._counts.items():
            family.add_metric(list(labels), count)
        yield family

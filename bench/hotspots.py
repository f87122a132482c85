"""Summarise a py-spy raw profile (``bench/run --profile DIR``) per thread.

For each thread: its share of samples, the leaf functions where it spends them ("self") and
the modemd functions on its stacks ("total"). Sampled with ``--idle``, so waiting shows too:
a store thread inside ``fsync``/``COMMIT`` or an event loop inside ``select`` is time spent
waiting, not computing.

    .venv/bin/python -m bench.hotspots DIR/accept.txt [--top 15]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

THREAD = re.compile(r"^thread \(\d+\): (?P<name>[^;]*)")
FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^:]*):\d+\)$")


def frame_name(frame: str) -> str:
    """``fn (file:line)`` -> ``file:fn`` (lines differ per call site; functions do not)."""
    match = FRAME.match(frame)
    return f"{match['file']}:{match['fn']}" if match else frame


def summarise(path: Path, top: int) -> str:
    """The per-thread report of one raw profile."""
    samples: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = defaultdict(Counter)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text().splitlines():
        stack, _, weight_text = line.rpartition(" ")
        frames = stack.split(";")
        match = THREAD.match(frames[0])
        thread = re.sub(r"\d+", "N", match["name"]) if match else "?"
        weight = int(weight_text)
        samples[thread] += weight
        leaves[thread][frame_name(frames[-1])] += weight
        for name in {frame_name(f) for f in frames[1:] if "modemd/" in f}:
            totals[thread][name] += weight
    overall = sum(samples.values()) or 1
    out = [f"{path.name}: {overall} samples"]
    for thread, count in samples.most_common():
        out.append(f"\n== {thread}: {100 * count / overall:.0f}% of samples")
        out.append("  self:")
        out += [f"    {100 * n / count:5.1f}%  {fn}" for fn, n in leaves[thread].most_common(top)]
        out.append("  total (modemd functions):")
        out += [f"    {100 * n / count:5.1f}%  {fn}" for fn, n in totals[thread].most_common(top)]
    return "\n".join(out)


def main() -> None:
    """Print the summary of each file given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    options = parser.parse_args()
    for path in options.profiles:
        print(summarise(path, options.top))


if __name__ == "__main__":
    main()

"""``python -m bench``: the benchmark suite (``bench/run`` calls this)."""

from bench.suite import main

main()

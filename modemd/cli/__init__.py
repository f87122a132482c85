"""The ``modemd`` command: a thin click shell over the service and the store.

The group and what commands share live in ``common``; the daemon's own commands in ``daemon``,
each area's commands in a module of this package (each registers itself on ``main``)."""

from __future__ import annotations

import gc

# No collection while the modules load, and what they made frozen out of every later one
# (``gc.freeze``: it lives as long as the process). CPython's passes meanwhile, ~140 of them
# over a heap growing to ~60,000 objects, took a tenth of a second of a start's CPU and found
# ~1,700 objects to free (README, Round 9: ready at 256 and the loop).
_collecting = gc.isenabled()
gc.disable()
try:
    from modemd.cli import (  # noqa: F401  (register their commands)
        audit,
        campaigns,
        configfile,
        console,
        daemon,
        database,
        hardware,
        inbox,
        ipn,
        jobs,
        keys,
        lists,
        rules,
        simulator,
        wallet,
    )
    from modemd.cli.common import main
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

__all__ = ["main"]

"""``python -m modemd`` is the ``modemd`` command."""

from modemd.cli import main

main()

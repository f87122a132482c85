"""Emulated handsets: the phones of the numbers the emulated bank texts. With
``--simulate-replies TEXT`` each answers what it receives with TEXT after a short, human delay,
so the whole two-way loop (send, receive, conversations) can be watched without hardware.

A number answers at most once per ``COOLDOWN_S``: an automatic reply of the daemon (HELP, a
keyword rule) that the handset answers again cannot turn into an endless ping-pong.
"""

from __future__ import annotations

import random

REPLY_DELAY_S = (1.0, 3.0)  # uniform min, max: a person reads and types
COOLDOWN_S = 60.0  # one answer per number per minute at most


class Handsets:
    """Which number answers what, and when."""

    def __init__(
        self,
        text: str,
        rng: random.Random,
        *,
        delay_s: tuple[float, float] = REPLY_DELAY_S,
        cooldown_s: float = COOLDOWN_S,
    ) -> None:
        self.text = text
        self._rng = rng
        self._delay_s = delay_s
        self._cooldown_s = cooldown_s
        self._answered: dict[str, float] = {}  # number -> when it last answered (monotonic)

    def reply(self, number: str, now: float) -> tuple[str, float] | None:
        """An SMS reached ``number``: its answer and the delay before it, or None (cooldown)."""
        last = self._answered.get(number)
        if last is not None and now - last < self._cooldown_s:
            return None
        self._answered[number] = now
        return self.text, self._rng.uniform(*self._delay_s)

"""A modem's registration in its three domains (+CREG circuit, +CGREG packet, +CEREG LTE):
registered when any of them says home (1) or roaming (5), since an LTE-only modem registers
only in +CEREG. Fed by read answers and by URCs (``AT+CxREG=2``)."""

from __future__ import annotations

from collections.abc import Callable

from modemd.at.commands import REGISTERED_STATES, REGISTRATION_DOMAINS

ROAMING = 5  # <stat> 5: registered, roaming
REGISTRATION_NAMES = {  # 27.007 7.2 <stat>, as modemd devices and the API say it
    0: "not_registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
}

RegistrationListener = Callable[[bool], None]  # (registered now)


class RegistrationTracker:
    """The last <stat> of each domain the modem answers for."""

    def __init__(self) -> None:
        self.stats: dict[str, int | None] = {}  # domain -> last <stat>; absent: unsupported
        self.listener: RegistrationListener | None = None  # told when "registered" flips

    def supported(self, domain: str) -> None:
        """The modem accepted ``AT<domain>=2``: its URCs will come."""
        self.stats.setdefault(domain, None)

    @property
    def domains(self) -> list[str]:
        """The domains to ask, +CREG always first."""
        return [d for d in REGISTRATION_DOMAINS if d in self.stats or d == "+CREG"]

    @property
    def registered(self) -> bool:
        return any(stat in REGISTERED_STATES for stat in self.stats.values())

    @property
    def roaming(self) -> bool:
        return self.registered and ROAMING in self.stats.values()

    @property
    def words(self) -> str:
        """home, roaming, searching, denied, not_registered or unknown."""
        stat = self.stat
        return REGISTRATION_NAMES.get(stat if stat is not None else 4, "unknown")

    @property
    def stat(self) -> int | None:
        """One <stat> for the modem: a registered domain's, else +CREG's."""
        for stat in self.stats.values():
            if stat in REGISTERED_STATES:
                return stat
        return self.stats.get("+CREG")

    def update(self, domain: str, stat: int | None) -> None:
        """A domain said ``stat`` (a URC or a read answer); tell the listener on a flip."""
        before = self.registered
        self.stats[domain] = stat
        if self.registered != before and self.listener is not None:
            self.listener(self.registered)

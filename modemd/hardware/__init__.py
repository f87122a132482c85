"""Real hardware: udev discovery of labelled modems, hot-plug, and the doctor's checks.

``udev`` is the only module of modemd that imports pyudev."""

"""modemd's benchmark suite: scenarios on emulated modems, measured from outside the daemon."""

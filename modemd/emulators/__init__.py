"""Emulated devices shipped with modemd: a modem on a pty and the SMSGate phone app over HTTP."""

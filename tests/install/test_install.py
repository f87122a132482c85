"""Install on a host in one command; use it through the installed config; remove it again. In a
throwaway root (an overlay over this machine's /), so the host stays clean. The .deb: in
test_install_deb.py (a file of its own: each takes minutes, and files run in parallel)."""

from __future__ import annotations

from pathlib import Path

from .throwaway import SOURCE, USE_IT, run_in_throwaway_root


def test_install_script_installs_works_and_uninstalls(tmp_path: Path) -> None:
    script = f"""
cd {SOURCE}
./scripts/install
test "$(readlink /usr/local/bin/modemd)" = /opt/modemd/bin/modemd
UNIT=/etc/systemd/system/modemd.service
{USE_IT}
./scripts/install
modemd keys list | grep ' installed '
./scripts/install --uninstall
test ! -e /opt/modemd && test ! -e /usr/local/bin/modemd && test ! -e $UNIT
test -s /var/lib/modemd/modemd.db && test -s /etc/modemd/modemd.toml
./scripts/install --uninstall --purge
test ! -e /var/lib/modemd && test ! -e /etc/modemd && ! getent passwd modemd
echo REMOVED
"""
    output = run_in_throwaway_root(tmp_path, script)
    assert "REMOVED" in output
    assert "install: writing /etc/modemd/modemd.toml" in output

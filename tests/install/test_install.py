"""Install on a host in one command, and as a .deb; use it through the installed config; remove
it again. Each in a throwaway root (an overlay over this machine's /), so the host stays clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .throwaway import REPO, SOURCE, run_in_throwaway_root

# What an operator does after installing (sh; as root; no systemd running in a chroot).
USE_IT = """
modemd --version
modemd config check
modemd doctor > /tmp/doctor.txt 2>&1 || test $? = 1
! grep -q Traceback /tmp/doctor.txt
systemd-analyze verify "$UNIT"
modemd keys create --pin 4711 --over-ip --label installed | tail -n 1 > /tmp/key
modemd keys list | grep ' installed '
test "$(stat -c %U:%G /var/lib/modemd/modemd.db)" = modemd:modemd
id -nG modemd | grep -qw dialout
test "$(stat -c %a /etc/modemd/modemd.toml)" = 640
"""


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


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    subprocess.run([str(REPO / "packaging" / "build-deb"), str(out)], check=True, timeout=600)
    (built,) = out.glob("modemd_*.deb")
    return built


def test_deb_installs_works_and_purges(tmp_path: Path, deb: Path) -> None:
    script = f"""
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q /tmp/{deb.name}
test "$(readlink /usr/bin/modemd)" = /opt/modemd/bin/modemd
UNIT=/usr/lib/systemd/system/modemd.service
{USE_IT}
apt-get remove -y -q modemd
test ! -e /opt/modemd && test ! -e /usr/bin/modemd && test ! -e $UNIT
test -s /var/lib/modemd/modemd.db && test -s /etc/modemd/modemd.toml
apt-get purge -y -q modemd
test ! -e /var/lib/modemd && test ! -e /etc/modemd
echo PURGED
"""
    output = run_in_throwaway_root(tmp_path, script, files={deb.name: deb})
    assert "PURGED" in output

"""Install as a .deb; use it through the installed config; remove and purge it. In a throwaway
root (an overlay over this machine's /), so the host stays clean."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .throwaway import REPO, USE_IT, run_in_throwaway_root

# dpkg-deb's default xz takes minutes on a loaded 2-core machine; what this test proves (the
# package installs, works, is removed and purged) does not depend on the compressor. Env vars of
# dpkg-deb (>= 1.21.10), so packaging/build-deb itself is unchanged.
FAST_COMPRESSION = {"DPKG_DEB_COMPRESSOR_TYPE": "gzip", "DPKG_DEB_COMPRESSOR_LEVEL": "1"}


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    subprocess.run(
        [str(REPO / "packaging" / "build-deb"), str(out)],
        check=True,
        timeout=600,
        env={**os.environ, **FAST_COMPRESSION},
    )
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

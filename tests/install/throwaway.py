"""A throwaway root: the host's / under an overlay (writes go to a tmpfs), entered with chroot in
a private mount namespace. Installing, removing and purging there leaves the host as it was."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).parents[2]
SOURCE = "/tmp/modemd-src"  # where the checkout is copied inside the throwaway root
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # a root login's, no venv
# What an operator does after installing (sh; as root; no systemd running in a chroot); $UNIT is
# where the installer put the unit.
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


def sources(into: Path) -> None:
    """The checkout's files as git sees them (tracked and new, not ignored), no .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = REPO / name
        if source.is_file() or source.is_symlink():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name, follow_symlinks=False)


def run_in_throwaway_root(tmp: Path, script: str, *, files: dict[str, Path] | None = None) -> str:
    """Run ``script`` (sh, ``set -ex``) as root with a clean environment in a throwaway root
    holding a copy of the checkout at SOURCE (and ``files``: name in /tmp -> host file); its
    output (stdout+stderr)."""
    src = tmp / "src"
    sources(src)
    copies = " ".join(
        f"cp {shlex.quote(str(path))} $T/root/tmp/{shlex.quote(name)};"
        for name, path in (files or {}).items()
    )
    setup = f"""
set -e
T={shlex.quote(str(tmp / "mnt"))}
mkdir -p $T && mount -t tmpfs modemd-throwaway $T
mkdir $T/upper $T/work $T/root
mount -t overlay overlay -o lowerdir=/,upperdir=$T/upper,workdir=$T/work $T/root
mount -t proc proc $T/root/proc
mount --rbind /dev $T/root/dev
mount --rbind /sys $T/root/sys
mount -t tmpfs tmpfs $T/root/run
mount -t tmpfs tmpfs $T/root/tmp
cp -a {shlex.quote(str(src))} $T/root{SOURCE}
{copies}
exec chroot $T/root /usr/bin/env -i PATH={PATH} HOME=/root LANG=C.UTF-8 \\
  /bin/sh -exc {shlex.quote(script)}
"""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    done = subprocess.run(
        [*sudo, "unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output

"""Turning a served sample into a command: compile Go and Java, name the interpreter of the
others. Shared by the live-daemon sample test and the campaign sample test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from modemd.api import docs

BUILD_TIMEOUT_S = 120.0  # a cold Go build on a loaded 2-core machine
TOOLS = ("bash", "curl", "openssl", "python3", "php", "node", "go", "javac", "java")
INTERPRETERS = {"curl": "bash", "python": "python3", "php": "php", "javascript": "node"}


def require_toolchains() -> None:
    """Skip on a developer machine without the toolchains; fail in CI, which must have them."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"toolchains missing (scripts/apt-packages installs them): {missing}")
    assert not missing, f"CI lacks {missing}: scripts/apt-packages must list them"


def sample_command(lang: str, text: str, folder: Path) -> list[str]:
    """Write the sample's ``text`` into ``folder`` under its own file name, build it if it
    needs building; the command that runs it."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / docs.SAMPLE_FILES[lang]
    source.write_text(text, "utf-8")
    if lang == "go":
        env = {**os.environ, "GOCACHE": str(folder / "gocache"), "GOPATH": str(folder / "gopath")}
        build = ["go", "build", "-o", str(folder / "sample"), str(source)]
        subprocess.run(build, check=True, env=env, timeout=BUILD_TIMEOUT_S)
        return [str(folder / "sample")]
    if lang == "java":
        javac = ["javac", "-d", str(folder), str(source)]
        subprocess.run(javac, check=True, timeout=BUILD_TIMEOUT_S)
        return ["java", "-cp", str(folder), "Sample"]
    return [INTERPRETERS[lang], str(source)]

"""The generated data folder stays out of git in every form: a checkout that links ``.data`` to a
shared copy (a symlink, not a folder) must not commit the link, since checking out a commit that
tracks ``.data`` lets git delete an ignored ``.data`` folder of generated data in its way."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(_ROOT), *args], capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("git") is None or not (_ROOT / ".git").exists(), reason="not a git checkout")
def test_data_folder_is_ignored_as_a_link_too() -> None:
    assert _git("ls-files", "--", ".data").stdout == "", ".data must not be tracked"
    # --no-index: the rule itself; "/.data/" matched only a folder, so a link was added by "git add -A"
    assert _git("check-ignore", "-q", "--no-index", ".data").returncode == 0, ".data is not ignored"

"""`pip install .` must give a working server: templates, static files, migrations and the
message template ship inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_contains_templates_static_files_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("twofold-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "twofold/web/templates/base.html",
        "twofold/web/templates/setup_totp.html",
        "twofold/web/static/style.css",
        "twofold/web/static/copy.js",
        "twofold/store/migrations/env.py",
        "twofold/store/migrations/script.py.mako",
        "twofold/store/migrations/versions/0001_initial_schema.py",
        "twofold/py.typed",
        "twofold/locale/twofold.pot",
    ):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "twofold = twofold.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

"""`GET /` serves the web UI, and everything the page loads is served and packaged."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from server.routes.ui import UI_DIR

ROOT = Path(__file__).resolve().parents[3]
IMPORT = re.compile(r'from\s+"(\./[\w./]+)";')
LINKED = re.compile(r'(?:src|href)="(/ui/[^"]+)"')


def ui_files() -> list[str]:
    """Every UI path the page and its modules load, from the files themselves."""
    page = (UI_DIR / "index.html").read_text()
    found = set(LINKED.findall(page))
    for script in (UI_DIR / "js").glob("*.js"):
        found |= {
            f"/ui/js/{name.removeprefix('./')}" for name in IMPORT.findall(script.read_text())
        }
    return sorted(found)


def test_the_page_and_everything_it_loads_are_served(client: TestClient[Any]) -> None:
    page = client.get("/")
    files = ui_files()

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/ui/js/app.js" in files and "/ui/style.css" in files
    for path in [*files, "/ui/media/loop.mp4"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache", path


def test_paths_outside_the_ui_folder_are_not_served(client: TestClient[Any]) -> None:
    assert client.get("/ui/missing.js").status_code == 404
    assert client.get("/ui/..%2Fapp.py").status_code == 404


def test_a_built_wheel_carries_the_ui(tmp_path: Path) -> None:
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
    )
    (wheel,) = tmp_path.glob("scope_graph-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {name.removeprefix("server") for name in names if name.startswith("server/ui/")}

    assert {*ui_files(), "/ui/index.html", "/ui/media/loop.mp4"} <= packaged

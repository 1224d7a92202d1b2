"""Asset file names and paths, on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.assets import AssetError, asset_type, clean_filename, find_asset


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("photo.PNG", "photo.PNG"),
        ("a/b/c.jpg", "c.jpg"),
        ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
        ("..\\..\\x.webp", "x.webp"),
        ("...hidden.bmp", "hidden.bmp"),
        ("tab\there.mov", "tabhere.mov"),
    ],
)
def test_clean_filename(given: str, stored: str) -> None:
    assert clean_filename(given) == stored


@pytest.mark.parametrize("given", ["", ".", "..", "a/..", "x.exe", "png", "x.png/"])
def test_unusable_filenames(given: str) -> None:
    with pytest.raises(AssetError):
        clean_filename(given)


def test_types_by_extension_in_any_case() -> None:
    assert (asset_type("a.JPEG"), asset_type("b.webm"), asset_type("c.gif")) == (
        "image",
        "video",
        None,
    )


def test_find_asset_stays_in_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "assets"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.png").write_bytes(b"a")
    (tmp_path / "secret.png").write_bytes(b"s")

    assert find_asset(folder, "sub/a.png") == folder.resolve() / "sub" / "a.png"
    for escape in ("../secret.png", "sub/../../secret.png", "/etc/passwd", "C:\\x.png"):
        with pytest.raises(AssetError):
            find_asset(folder, escape)
    with pytest.raises(FileNotFoundError):
        find_asset(folder, "sub")

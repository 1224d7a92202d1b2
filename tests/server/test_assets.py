"""Asset file names and paths, on their own."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from server.assets import FILENAME_PATTERN, AssetError, asset_type, clean_filename, find_asset


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("photo.PNG", "photo.PNG"),
        ("a/b/c.jpg", "c.jpg"),
        ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
        ("..\\..\\x.webp", "x.webp"),
        (" spaced .mov", " spaced .mov"),
        ("é" * 200 + ".png", "é" * 125 + ".png"),  # 255 bytes at most on disk
    ],
)
def test_clean_filename(name: str, stored: str) -> None:
    assert clean_filename(name) == stored


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a/..", "x.exe", "png", "x.png/", ".hidden.bmp", "tab\there.mov", "a?.png"],
)
def test_unusable_filenames(name: str) -> None:
    with pytest.raises(AssetError):
        clean_filename(name)


def _takes(name: str) -> bool:
    try:
        clean_filename(name)
    except AssetError:
        return False
    return True


def random_names(count: int) -> list[str]:
    """Names over the characters each rule is about, and over the first 600 code points."""
    rng = random.Random(0)
    alphabet = [*"aZ.é /\\:?\x00\x1f\x85\u212a\u2028pngPNGmkv4", *map(chr, range(1, 600))]
    endings = ["", ".png", ".PnG", ".mkv", "png", ".exe"]
    return [
        "".join(rng.choices(alphabet, k=rng.randrange(12))) + rng.choice(endings)
        for _ in range(count)
    ]


def test_the_documented_pattern_takes_the_names_the_server_takes() -> None:
    edges = ["\u212a.mkv", "m\u212av", "a.png\n", "x" * 251 + ".png", "x" * 252 + ".png"]
    for name in edges + random_names(5000):
        documented = len(name) <= 255 and re.fullmatch(FILENAME_PATTERN, name) is not None
        assert documented == _takes(name), repr(name)


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

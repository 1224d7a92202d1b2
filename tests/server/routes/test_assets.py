"""`/api/v1/assets`: upload, list and serve, and nothing outside the assets folder, ever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from server.assets import MAX_UPLOAD_BYTES
from server.settings import ServerSettings

ASSETS = "/api/v1/assets"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
Client = TestClient[Any]


@pytest.fixture
def assets_dir(client: Client, settings: ServerSettings) -> Path:
    return settings.assets_dir


def upload(client: Client, filename: str, body: bytes = PNG) -> Any:
    return client.post(
        ASSETS,
        params={"filename": filename},
        content=body,
        headers={"content-type": "application/octet-stream"},
    )


def test_an_upload_is_stored_and_described_like_a_list_entry(
    client: Client, assets_dir: Path
) -> None:
    response = upload(client, "ref image.png")

    assert response.status_code == 200, response.text
    asset = response.json()
    assert (assets_dir / "ref image.png").read_bytes() == PNG
    assert asset["name"] == "ref image"
    assert Path(asset["path"]) == (assets_dir / "ref image.png").resolve()
    assert "assets" in Path(asset["path"]).parts, "the frontend finds the `assets` segment"
    assert (asset["size_mb"], asset["folder"], asset["type"]) == (0.0, None, "image")
    assert isinstance(asset["created_at"], float)
    assert client.get(ASSETS).json()["assets"] == [asset]


def test_list_by_type_in_sub_folders_newest_first(client: Client, assets_dir: Path) -> None:
    (assets_dir / "clips").mkdir()
    (assets_dir / "clips" / "walk.mp4").write_bytes(b"video")
    (assets_dir / "old.JPG").write_bytes(b"jpeg")
    upload(client, "new.webp")
    (assets_dir / "notes.txt").write_text("not an asset")

    everything = client.get(ASSETS).json()["assets"]
    images = client.get(ASSETS, params={"type": "image"}).json()["assets"]
    videos = client.get(ASSETS, params={"type": "video"}).json()["assets"]

    assert {a["name"] for a in everything} == {"walk", "old", "new"}
    times = [a["created_at"] for a in everything]
    assert times == sorted(times, reverse=True)
    assert {(a["name"], a["type"]) for a in images} == {("old", "image"), ("new", "image")}
    assert [(a["name"], a["folder"], a["type"]) for a in videos] == [("walk", "clips", "video")]


def test_an_asset_is_served_with_its_media_type(client: Client, assets_dir: Path) -> None:
    (assets_dir / "clips").mkdir()
    (assets_dir / "clips" / "walk.mp4").write_bytes(b"video")
    upload(client, "ref.png")

    image = client.get(f"{ASSETS}/ref.png")
    clip = client.get(f"{ASSETS}/clips/walk.mp4")

    assert (image.status_code, image.headers["content-type"], image.content) == (
        200,
        "image/png",
        PNG,
    )
    assert (clip.headers["content-type"], clip.content) == ("video/mp4", b"video")
    assert client.get(f"{ASSETS}/missing.png").json() == {"detail": "Asset not found"}


@pytest.mark.parametrize("name", ["../escape.png", "/tmp/escape.png", "..\\escape.png"])
def test_upload_names_lose_their_folders(
    client: Client, assets_dir: Path, tmp_path: Path, name: str
) -> None:
    response = upload(client, name)

    assert response.status_code == 200, response.text
    assert (assets_dir / "escape.png").read_bytes() == PNG
    assert not (assets_dir.parent / "escape.png").exists()
    assert not Path("/tmp/escape.png").exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("notes.txt", ["Invalid file type", ".png", ".mp4"]),
        ("noext", ["Invalid file type"]),
        ("..", ["Invalid file name"]),
        ("/", ["Invalid file name"]),
        (".hidden.png", ["Invalid file name", "leading dot"]),
        ("a<b.png", ["Invalid file name", "<>"]),
    ],
)
def test_uploads_that_are_not_images_or_videos_are_refused(
    client: Client, assets_dir: Path, name: str, words: list[str]
) -> None:
    response = upload(client, name)

    assert response.status_code == 400
    assert all(word in response.json()["detail"] for word in words)
    assert list(assets_dir.iterdir()) == []


def test_an_upload_needs_a_filename(client: Client) -> None:
    response = client.post(ASSETS, content=PNG)

    assert response.status_code == 422
    assert "filename" in response.json()["detail"]


def test_uploads_over_50_mb_are_refused_and_leave_nothing(client: Client, assets_dir: Path) -> None:
    too_big = bytes(MAX_UPLOAD_BYTES + 1)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is checked as bytes arrive
        for start in range(0, len(too_big), 1 << 20):
            yield too_big[start : start + (1 << 20)]

    declared = upload(client, "big.mp4", too_big)
    streamed = client.post(ASSETS, params={"filename": "big.mp4"}, content=chunks())

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"detail": "File size exceeds maximum of 50MB"}
    assert list(assets_dir.iterdir()) == []


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret file beside the assets folder, in a sibling folder whose name starts the same."""
    folder = tmp_path / "home" / "assets2"
    folder.mkdir(parents=True)
    secret = folder / "secret.png"
    secret.write_bytes(b"secret")
    return secret


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/assets2/secret.png",
        "..%2fassets2%2fsecret.png",
        "%2e%2e%5cassets2%5csecret.png",
        "sub/%2e%2e/%2e%2e/assets2/secret.png",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "C:%5cWindows%5cwin.ini",
    ],
)
def test_paths_out_of_the_assets_folder_are_refused(
    client: Client, assets_dir: Path, outside: Path, path: str
) -> None:
    response = client.get(f"{ASSETS}/{path}")

    assert response.status_code in (403, 404), response.text
    assert b"secret" not in response.content and b"root:" not in response.content


def test_symlinks_out_of_the_assets_folder_are_refused(
    client: Client, assets_dir: Path, outside: Path
) -> None:
    (assets_dir / "link.png").symlink_to(outside)
    (assets_dir / "linked").symlink_to(outside.parent, target_is_directory=True)
    (assets_dir / "real.png").write_bytes(PNG)
    (assets_dir / "alias.png").symlink_to(assets_dir / "real.png")

    assert client.get(f"{ASSETS}/link.png").json() == {"detail": "Invalid path"}
    assert client.get(f"{ASSETS}/linked/secret.png").status_code == 403
    assert client.get(f"{ASSETS}/alias.png").content == PNG, "links inside the folder are fine"
    assert {a["name"] for a in client.get(ASSETS).json()["assets"]} == {"real", "alias"}


def test_an_upload_over_a_symlink_replaces_the_link_not_its_target(
    client: Client, assets_dir: Path, outside: Path
) -> None:
    (assets_dir / "link.png").symlink_to(outside)

    assert upload(client, "link.png").status_code == 200

    assert outside.read_bytes() == b"secret"
    assert not (assets_dir / "link.png").is_symlink()
    assert (assets_dir / "link.png").read_bytes() == PNG


def test_a_bad_type_filter_is_refused(client: Client) -> None:
    response = client.get(ASSETS, params={"type": "audio"})

    assert response.status_code == 422
    assert "type" in response.json()["detail"]

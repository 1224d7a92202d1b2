"""Downloads against a hub that misbehaves like real servers and CDNs: every fault ends with
each file byte-identical to the hub's and "downloaded", or with a clear error after the
bounded retries; never "downloaded" with a missing or wrong file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_hub import FakeHub, IgnoreRange, Kill, Reset, Status, WrongByte

from scope_graph.model_store import (
    DownloadError,
    ProgressReport,
    Retry,
    RetryPolicy,
    download,
    is_downloaded,
)
from scope_graph.scope_pipelines import Artifact, PipelineInfo

WEIGHTS = bytes(range(256)) * 400
REPOS = {"org/Weights": {"config.json": b'{"dim": 8}', "model.pt": WEIGHTS}}
INFO = PipelineInfo(
    name="P",
    description="p",
    artifacts=(Artifact(repo_id="org/Weights", files=("config.json", "model.pt")),),
)


class Waits:
    """A retry policy's `sleep` that records the delays instead of waiting them, and can act
    between attempts (as a server restarting while the client waits)."""

    def __init__(self, between: list[object] | None = None) -> None:
        self.delays: list[float] = []
        self.between = between or []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.between:
            action = self.between.pop(0)
            assert callable(action)
            action()

    def policy(self, attempts: int = 4) -> RetryPolicy:
        return RetryPolicy(attempts=attempts, first_delay=1.0, max_delay=3.0, sleep=self)


def assert_all_there(models: Path) -> None:
    for name, data in REPOS["org/Weights"].items():
        assert (models / "Weights" / name).read_bytes() == data, name
    assert not list(models.rglob("*.incomplete"))
    assert is_downloaded(INFO, models)


def model_requests(hub: FakeHub) -> list[str | None]:
    """The Range header of each request for model.pt (None: from the start)."""
    return [h.get("range") for p, h in hub.file_requests() if p.endswith("/model.pt")]


def test_a_500_once_is_retried_after_a_backoff(tmp_path: Path) -> None:
    waits = Waits()
    seen: list[ProgressReport] = []
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", Status(500))
        download(INFO, tmp_path, seen.append, endpoint=hub.url, policy=waits.policy())
        assert model_requests(hub) == [None, None]

    assert_all_there(tmp_path)
    assert len(waits.delays) == 1 and 0.5 <= waits.delays[0] <= 1.0
    retries = [r.retry for r in seen if r.retry is not None]
    assert retries and retries[0] == Retry(2, 4, "HTTP 500 Internal Server Error", waits.delays[0])
    assert all(r.file == "model.pt" for r in seen if r.retry is not None)
    assert seen[-1].retry is None, "the retry notice ends once the file flows again"


def test_a_503_three_times_backs_off_exponentially_with_jitter(tmp_path: Path) -> None:
    waits = Waits()
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", Status(503), Status(503), Status(503))
        download(INFO, tmp_path, endpoint=hub.url, policy=waits.policy())

    assert_all_there(tmp_path)
    first, second, third = waits.delays
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0
    assert 1.5 <= third <= 3.0, "doubling, capped at max_delay"


def test_a_503_more_often_than_allowed_fails_naming_the_file_and_the_status(
    tmp_path: Path,
) -> None:
    waits = Waits()
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", *[Status(503)] * 4)
        with pytest.raises(DownloadError) as failure:
            download(INFO, tmp_path, endpoint=hub.url, policy=waits.policy(attempts=4))
        assert len(model_requests(hub)) == 4

    assert str(failure.value) == (
        "Downloading org/Weights/model.pt failed after 4 attempt(s); "
        "the last: HTTP 503 Service Unavailable"
    )
    assert not is_downloaded(INFO, tmp_path)


def test_a_reset_mid_file_resumes_from_the_bytes_on_disk(tmp_path: Path) -> None:
    seen: list[ProgressReport] = []
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", Reset(after=30000))
        download(INFO, tmp_path, seen.append, endpoint=hub.url, policy=Waits().policy())
        assert model_requests(hub) == [None, "bytes=30000-"]

    assert_all_there(tmp_path)
    reason = next(r.retry.reason for r in seen if r.retry is not None)
    assert reason.startswith(("ReadError", "RemoteProtocolError")), reason
    done = [r.done for r in seen]
    assert done == sorted(done), "resumed bytes are not counted twice"
    assert done[-1] == seen[-1].total == len(WEIGHTS) + 10


def test_a_wrong_byte_is_caught_by_the_sha256_and_the_file_fetched_again(
    tmp_path: Path,
) -> None:
    seen: list[ProgressReport] = []
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", WrongByte(at=70000))
        download(INFO, tmp_path, seen.append, endpoint=hub.url, policy=Waits().policy())
        assert model_requests(hub) == [None, None], "the whole file again, not a resume"

    assert_all_there(tmp_path)
    reason = next(r.retry.reason for r in seen if r.retry is not None)
    assert reason.startswith("sha256 mismatch (expected ")
    assert min(r.done for r in seen if r.retry is not None) == 10, "the bad bytes are dropped"


def test_a_wrong_byte_in_a_small_git_file_is_caught_by_its_blob_id(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        hub.fault("config.json", WrongByte(at=2), WrongByte(at=3))
        with pytest.raises(DownloadError, match="config.json .* the last: git blob id mismatch"):
            download(INFO, tmp_path, endpoint=hub.url, policy=Waits().policy(attempts=2))

    assert not (tmp_path / "Weights/config.json").exists()
    assert not is_downloaded(INFO, tmp_path)


def test_a_server_killed_mid_file_is_waited_for_and_the_file_resumed(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        # Killed after 50000 bytes; down for the first retry (connection refused), back for
        # the second.
        hub.fault("model.pt", Kill(after=50000))
        waits = Waits(between=[lambda: None, hub.start])
        download(INFO, tmp_path, endpoint=hub.url, policy=waits.policy())
        assert model_requests(hub) == [None, "bytes=50000-"]

    assert_all_there(tmp_path)
    assert len(waits.delays) == 2


def test_a_server_down_for_longer_fails_then_a_new_download_resumes(tmp_path: Path) -> None:
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", Kill(after=50000))
        with pytest.raises(DownloadError, match="model.pt failed after 3 .* ConnectError"):
            download(INFO, tmp_path, endpoint=hub.url, policy=Waits().policy(attempts=3))
        assert not is_downloaded(INFO, tmp_path)
        assert (tmp_path / "Weights/model.pt.incomplete").stat().st_size == 50000

        hub.start()
        download(INFO, tmp_path, endpoint=hub.url, policy=Waits().policy())
        assert model_requests(hub) == [None, "bytes=50000-"]

    assert_all_there(tmp_path)


def test_a_partial_hashed_on_resume_that_is_wrong_is_fetched_again(tmp_path: Path) -> None:
    """A corrupt `.incomplete` left by an earlier run: its bytes are hashed once when the
    download starts, the mismatch shows at the end, and the file is fetched whole."""
    partial = tmp_path / "Weights/model.pt.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\xff" * 1000)
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url, policy=Waits().policy())
        assert model_requests(hub) == ["bytes=1000-", None]

    assert_all_there(tmp_path)


def test_a_finished_partial_is_checked_and_renamed_without_a_request(tmp_path: Path) -> None:
    """Killed after the last byte but before the rename: nothing left to fetch."""
    partial = tmp_path / "Weights/model.pt.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(WEIGHTS)
    with FakeHub(REPOS) as hub:
        download(INFO, tmp_path, endpoint=hub.url, policy=Waits().policy())
        assert model_requests(hub) == []

    assert_all_there(tmp_path)


def test_a_server_that_ignores_the_range_restarts_the_file_without_counting_twice(
    tmp_path: Path,
) -> None:
    partial = tmp_path / "Weights/model.pt.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(WEIGHTS[:1000])
    seen: list[ProgressReport] = []
    with FakeHub(REPOS) as hub:
        hub.fault("model.pt", IgnoreRange())
        download(INFO, tmp_path, seen.append, endpoint=hub.url, policy=Waits().policy())
        assert model_requests(hub) == ["bytes=1000-"]

    assert_all_there(tmp_path)
    assert max(r.done for r in seen) == seen[-1].total

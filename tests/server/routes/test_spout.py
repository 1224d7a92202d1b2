"""`GET /api/v1/spout/senders`."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from litestar.testing import TestClient
from spout_standin import FakeSpout, share


def test_without_spoutgl_the_list_is_empty_with_the_reason(
    client: TestClient[Any], no_spout: None
) -> None:
    response = client.get("/api/v1/spout/senders")

    assert response.status_code == 200
    body = response.json()
    assert body["available"] is False and body["senders"] == []
    assert "Spout needs Windows and the SpoutGL package" in body["reason"]


def test_lists_the_running_senders(client: TestClient[Any], spout: FakeSpout) -> None:
    assert client.get("/api/v1/spout/senders").json() == {
        "available": True,
        "senders": [],
        "reason": None,
    }

    picture = np.zeros((4, 4, 3), np.uint8)
    share(spout, "TouchDesigner", picture)
    share(spout, "Resolume", picture)

    body = client.get("/api/v1/spout/senders").json()
    assert body == {"available": True, "senders": ["TouchDesigner", "Resolume"], "reason": None}


def test_a_failing_spoutgl_is_reported_not_a_500(client: TestClient[Any], spout: FakeSpout) -> None:
    def broken(self: Any) -> list[str]:
        raise RuntimeError("no OpenGL context")

    sys.modules["SpoutGL"].SpoutReceiver.getSenderList = broken  # this test's stand-in only

    response = client.get("/api/v1/spout/senders")

    assert response.status_code == 200
    assert response.json() == {
        "available": True,
        "senders": [],
        "reason": "listing failed: no OpenGL context",
    }

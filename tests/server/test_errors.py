"""Errors in Scope's shape: bad input is a 4xx naming the problem; a bug is a 500 with a message."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.testing import TestClient

from server.errors import exception_handlers


@get("/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("something broke")


@get("/number", sync_to_thread=False)
def number(value: FromQuery[int]) -> int:
    return value


def test_an_unexpected_error_is_a_500_with_its_message() -> None:
    app = Litestar([boom, number], exception_handlers=exception_handlers)
    with TestClient(app) as client:
        broken = client.get("/boom")
        invalid = client.get("/number", params={"value": "ten"})

    assert broken.status_code == 500
    assert broken.json() == {"detail": "Internal server error: something broke"}
    assert invalid.status_code == 422
    assert invalid.json()["detail"].startswith("value: ")

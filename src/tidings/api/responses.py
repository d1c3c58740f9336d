"""FreeScout's response shapes: HAL-like lists, 201 with Resource-ID, 204 with ``[]``."""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.responses import Response

from tidings.desk.queries import Page


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def created(resource_id: int | str, body: Any) -> JSON:
    return JSON(body, status_code=201, headers={"Resource-ID": str(resource_id)})


def no_content() -> Response:
    # FreeScout answers 204 with the body "[]"; HTTP forbids a body on 204, so
    # the status is kept and the body dropped (compatibility.md).
    return Response(status_code=204)


def page_of(key: str, items: list[Any], page: Page, total: int) -> JSON:
    return JSON(
        {
            "_embedded": {key: items},
            "page": {
                "size": page.size,
                "totalElements": total,
                "totalPages": math.ceil(total / page.size) if page.size else 0,
                "number": page.number,
            },
        }
    )

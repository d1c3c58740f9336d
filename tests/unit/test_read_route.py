"""api.context.read_route: where a GET handler does its database work (ADR 0008)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tidings.api.context import Context, read_route


class _Ctx(Context):
    def __init__(self, reads_on_event_loop: bool) -> None:  # no database needed here
        self.reads_on_event_loop = reads_on_event_loop


@read_route
def _handler(item: int, ctx: Context) -> tuple[int, int]:
    return item, threading.get_ident()


def _call(reads_on_event_loop: bool) -> tuple[tuple[int, int], int]:
    async def main() -> tuple[Any, int]:
        found = await _handler(item=7, ctx=_Ctx(reads_on_event_loop))
        return found, threading.get_ident()

    return asyncio.run(main())


def test_on_the_event_loop_the_handler_runs_in_the_loop_thread() -> None:
    (item, handler_thread), loop_thread = _call(True)
    assert item == 7
    assert handler_thread == loop_thread


def test_otherwise_it_runs_in_the_thread_pool() -> None:
    (item, handler_thread), loop_thread = _call(False)
    assert item == 7
    assert handler_thread != loop_thread


def test_the_wrapper_keeps_the_signature_fastapi_reads() -> None:
    import inspect

    assert asyncio.iscoroutinefunction(_handler)
    assert list(inspect.signature(_handler).parameters) == ["item", "ctx"]

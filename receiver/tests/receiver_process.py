"""A receiver process for the crash tests: Starlette on uvicorn, the ASGI adapter in front
of an inbox, and with ``--work`` the inbox's worker, whose handler writes ``start <id>`` and
``done <id>`` lines to ``--log`` and hangs forever on event ``--hang-on``.

    python receiver_process.py INBOX SECRET PORT [--work --log FILE --hang-on EVENT_ID]
"""

from __future__ import annotations

import argparse
import os
import time

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from tidings_receiver import Event, Inbox
from tidings_receiver.asgi import endpoint, lifespan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inbox")
    parser.add_argument("secret")
    parser.add_argument("port", type=int)
    parser.add_argument("--work", action="store_true")
    parser.add_argument("--log")
    parser.add_argument("--hang-on")
    args = parser.parse_args()

    inbox = Inbox(args.inbox, args.secret)

    def record(event: Event) -> None:
        _line(args.log, f"start {event.id} {event.attempt}")
        if event.id == args.hang_on:
            time.sleep(3600)
        _line(args.log, f"done {event.id}")

    inbox.on("*", record, name="record")
    app = Starlette(
        routes=[Route("/hook", endpoint(inbox), methods=["POST"])],
        lifespan=lifespan(inbox) if args.work else None,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", ws="none")


def _line(path: str, text: str) -> None:
    with open(path, "a") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())


if __name__ == "__main__":
    main()

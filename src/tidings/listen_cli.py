"""``tidings listen``: a server's events delivered to a local URL or command, for developing
an integration (as ``stripe listen`` does for Stripe's).

It listens on 127.0.0.1, subscribes a temporary webhook there through the API, and for each
delivery: checks its Standard Webhooks signature with the secret the subscription returned,
drops a repeat of a ``webhook-id`` already handled, then POSTs the exact body with the
original headers to ``--forward-to``, or runs ``--exec`` with the body on stdin; one line
each. Its answer to Tidings is the outcome's: a 2xx from the URL or exit 0 from the command
is a 200, anything else a 502, so Tidings retries (same ``webhook-id``) exactly as it would
retry the real receiver. On Ctrl-C or SIGTERM it deletes the webhook.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import signal
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import typer
from multidict import CIMultiDict
from rich.text import Text

from tidings.cli_support import (
    DEFAULT_URL,
    KEY_HINT,
    KEY_OPTION,
    client,
    console,
    describe_error,
    fail,
    unreachable,
)
from tidings.clock import Clock, system_clock
from tidings.webhooks.signing import InvalidSecret, standard_signature

if TYPE_CHECKING:
    import aiohttp

HOST = "127.0.0.1"
TOLERANCE_SECONDS = 300  # Standard Webhooks' default: a replay older than this is refused
REMEMBERED = 100_000  # webhook-ids kept for de-duplication, the oldest forgotten first
# Not forwarded: they describe the connection to this process, not the delivery.
HOP_BY_HOP = {
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
LOOPBACK_HINT = (
    "the server refuses to deliver to 127.0.0.1, where `tidings listen` receives: start it"
    " with TIDINGS_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32 (docs/cli.md#tidings-listen)"
)


# --- pure parts ----------------------------------------------------------------------


def signature_problem(
    headers: Mapping[str, str], body: bytes, secret: str, now: float
) -> str | None:
    """Why this delivery is not one signed with ``secret`` (Standard Webhooks), or None."""
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    given = headers.get("webhook-signature", "").split()
    if not (message_id and stamp and given):
        return "not a Standard Webhooks request (webhook-id, -timestamp, -signature)"
    if not (stamp.isascii() and stamp.isdigit()):
        return "webhook-timestamp is not a number"
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return "webhook-timestamp is more than 5 minutes away (a replay?)"
    expected = standard_signature(message_id, int(stamp), body, secret).encode()
    if any(hmac.compare_digest(expected, s.encode()) for s in given):
        return None
    return "no signature matches this webhook's secret"


@dataclass
class Handled:
    """The ``webhook-id`` of every delivery handled (the newest ``REMEMBERED``) and of the
    ones being handled now."""

    done: OrderedDict[str, None] = field(default_factory=OrderedDict)
    running: set[str] = field(default_factory=set)

    def start(self, message_id: str) -> str | None:
        """Claim ``message_id``; why not, when it is handled already or right now."""
        if message_id in self.done:
            return "duplicate: handled already"
        if message_id in self.running:
            return "duplicate: being handled now"
        self.running.add(message_id)
        return None

    def finish(self, message_id: str, ok: bool) -> None:
        """A failed one is forgotten, so that Tidings' retry of it runs again."""
        self.running.discard(message_id)
        if ok:
            self.done[message_id] = None
            if len(self.done) > REMEMBERED:
                self.done.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    shown: str  # "200", "exit 0", "cannot connect: ..."


def event_line(when: str, headers: Mapping[str, str], outcome: str) -> str:
    event = headers.get("X-FreeScout-Event", "?")
    sequence = headers.get("X-Tidings-Sequence", "?")
    message_id = headers.get("webhook-id", "-")
    return f"{when}  {event:<24} seq {sequence:<6} {message_id}  {outcome}"


def forwarded_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


def exec_environment(headers: Mapping[str, str]) -> dict[str, str]:
    """What ``--exec`` gets besides the body: this environment and the delivery's headers."""
    named = {
        "TIDINGS_EVENT_TYPE": "X-FreeScout-Event",
        "TIDINGS_DELIVERY_ID": "webhook-id",
        "TIDINGS_TIMESTAMP": "webhook-timestamp",
        "TIDINGS_SEQUENCE": "X-Tidings-Sequence",
        "TIDINGS_EVENT_ID": "X-Tidings-Event-Id",
        "TIDINGS_EVENT_SEQ": "X-Tidings-Event-Seq",
    }
    return {**os.environ, **{name: headers.get(header, "") for name, header in named.items()}}


# --- the receiving side ----------------------------------------------------------------

HandOn = Callable[[bytes, Mapping[str, str]], Awaitable[Outcome]]


@dataclass
class Listener:
    """What happens to one delivery, whatever server receives it: ``receive`` answers the
    status and text to send back."""

    secret: str
    hand_on: HandOn
    clock: Clock = system_clock
    handled: Handled = field(default_factory=Handled)

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        now = self.clock()
        when = now.strftime("%Y-%m-%d %H:%M:%S")
        problem = signature_problem(headers, body, self.secret, now.timestamp())
        if problem is not None:
            _print(event_line(when, headers, f"rejected (401): {problem}"), "red")
            return 401, problem
        message_id = headers["webhook-id"]
        if repeat := self.handled.start(message_id):
            _print(event_line(when, headers, repeat), "dim")
            return (200 if "already" in repeat else 409), repeat
        ok = False  # cancelled (the process stops) counts as failed: Tidings sends it again
        try:
            outcome = await self.hand_on(body, headers)
            ok = outcome.ok
        finally:
            self.handled.finish(message_id, ok=ok)
        _print(event_line(when, headers, f"-> {outcome.shown}"), None if ok else "yellow")
        return (200 if ok else 502), outcome.shown


def _print(line: str, style: str | None) -> None:
    console.print(Text(line, style=style or ""), highlight=False)


def forwarder(session: aiohttp.ClientSession, url: str) -> HandOn:
    """POST the body, with the delivery's headers, to ``url``; a 2xx is a success."""
    import aiohttp

    async def forward(body: bytes, headers: Mapping[str, str]) -> Outcome:
        try:
            async with session.post(
                url, data=body, headers=forwarded_headers(headers), allow_redirects=False
            ) as answer:
                await answer.read()
                return Outcome(200 <= answer.status < 300, str(answer.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(False, f"cannot forward: {exc.__class__.__name__} {exc}".strip())

    return forward


def executor(command: str) -> HandOn:
    """Run ``command`` in a shell with the body on its stdin; exit 0 is a success."""

    async def run(body: bytes, headers: Mapping[str, str]) -> Outcome:
        proc = await asyncio.create_subprocess_shell(
            command, stdin=asyncio.subprocess.PIPE, env=exec_environment(headers)
        )
        await proc.communicate(body)
        return Outcome(proc.returncode == 0, f"exit {proc.returncode}")

    return run


async def serve(
    sock: socket.socket, secret: str, forward_to: str | None, command: str | None
) -> None:
    """Receive on ``sock`` until SIGTERM or SIGINT."""
    # aiohttp is imported here, not with the module: every other command would pay for it.
    import aiohttp
    from aiohttp import web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        hand_on = forwarder(session, forward_to) if forward_to else executor(command or "")
        listener = Listener(secret, hand_on)

        async def receive(request: web.Request) -> web.Response:
            status, text = await listener.receive(await request.read(), request.headers)
            return web.Response(status=status, text=text)

        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", receive)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        await stop.wait()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)  # a second one ends the process at once
        await runner.cleanup()


# --- the command ---------------------------------------------------------------------


def listen(
    api_url: str = typer.Option(
        DEFAULT_URL, "--api-url", "--url", envvar="TIDINGS_URL", help="The Tidings server."
    ),
    key: str | None = KEY_OPTION,
    events: str = typer.Option(
        "*", "--events", help="Event types to receive, comma-separated; '*' for every event."
    ),
    port: int = typer.Option(
        0, "--port", help="Port to receive on at 127.0.0.1 (default: any free port)."
    ),
    forward_to: str | None = typer.Option(
        None, "--forward-to", help="POST each event here: the exact body, the original headers."
    ),
    command: str | None = typer.Option(
        None, "--exec", help="Run this shell command per event, the body on its stdin."
    ),
    secret_file: Path | None = typer.Option(
        None, "--secret-file", help="Write the webhook's signing secret here (mode 600)."
    ),
) -> None:
    """Receive a server's events here, verified and de-duplicated, and forward each to a URL
    or a command (for developing an integration). Deletes its webhook on exit."""
    if (forward_to is None) == (command is None):
        raise typer.BadParameter("give one of them", param_hint="'--forward-to' or '--exec'")
    names = [name.strip() for name in events.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one event type, or '*'", param_hint="'--events'")
    sock = _bound(port)
    target = f"http://{HOST}:{sock.getsockname()[1]}/"
    with client(api_url, key) as api:
        hook = _subscribe(api, target, names)
        try:
            _announce(hook, api_url, forward_to, command)
            if secret_file is not None:
                _write_secret(secret_file, hook["secret"])
            asyncio.run(serve(sock, hook["secret"], forward_to, command))
        finally:
            _unsubscribe(api, hook["id"])


def _bound(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        from tidings.cli_server import bind_problem

        fail(bind_problem(HOST, port, exc, "--port"))
    sock.listen(100)
    return sock


def _subscribe(api: httpx.Client, target: str, names: list[str]) -> dict[str, Any]:
    # One delivery at a time, so events arrive (and print) in order.
    body = {"url": target, "events": names, "maxConcurrency": 1}
    try:
        answer = api.post("/api/webhooks", json=body)
    except httpx.TransportError as exc:
        fail(unreachable(api, exc))
    if answer.status_code == 400 and "not a public address" in answer.text:
        fail(LOOPBACK_HINT)
    if answer.status_code != 201:
        message = f"{describe_error(answer)} (POST /api/webhooks)"
        if answer.status_code == 401:
            given = api.headers.get("X-FreeScout-API-Key")
            message += f": {'the API key is wrong' if given else 'no API key'}; {KEY_HINT}"
        fail(message)
    hook: dict[str, Any] = answer.json()
    try:
        standard_signature("msg", 0, b"", hook["secret"])
    except (KeyError, InvalidSecret):
        _unsubscribe(api, hook["id"])
        fail(f"the server at {api.base_url} answered no usable signing secret: is it Tidings?")
    return hook


def _announce(
    hook: dict[str, Any], api_url: str, forward_to: str | None, command: str | None
) -> None:
    kinds = ", ".join(hook["events"])
    console.print(
        f"Listening on {hook['url']} for {kinds} from {api_url} (webhook {hook['id']}).",
        markup=False,
        highlight=False,
    )
    if hook.get("ignoredEvents"):
        ignored = ", ".join(hook["ignoredEvents"])
        console.print(Text(f"warning: unknown event types ignored: {ignored}", style="yellow"))
    console.print(f"Signing secret: {hook['secret']}", markup=False, highlight=False)
    where = f"Forwarding to {forward_to}" if forward_to else f"Running `{command}`"
    console.print(
        f"{where}; Ctrl-C to stop (the webhook is deleted then).", markup=False, highlight=False
    )


def _write_secret(path: Path, secret: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
    except OSError as exc:
        fail(f"cannot write the secret to {path}: {exc.strerror or exc}")


def _unsubscribe(api: httpx.Client, webhook_id: int) -> None:
    try:
        answer = api.delete(f"/api/webhooks/{webhook_id}")
    except httpx.TransportError as exc:
        why = unreachable(api, exc)
    else:
        if answer.status_code in (204, 404):  # 404: someone deleted it already
            console.print(f"Deleted webhook {webhook_id}.")
            return
        why = describe_error(answer)
    fail(f"webhook {webhook_id} is left on the server ({why}); DELETE /api/webhooks/{webhook_id}")

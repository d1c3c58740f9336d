"""``tidings webhooks``: webhook subscriptions and their deliveries, through a server's API.

Every command is one or a few calls to ``/api/webhooks`` (docs/api.md#webhooks) on the
server at ``--url``; nothing here touches the database, so it works against any Tidings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tidings.cli_support import KEY_OPTION, URL_OPTION, client, console, follow_operation, request

webhooks_app = typer.Typer(
    help="Manage webhooks and their deliveries through the API.", no_args_is_help=True
)

WEBHOOK_ID = typer.Argument(..., metavar="WEBHOOK_ID", help="The webhook's id.")
FINISHED = ("delivered", "failed", "skipped")
HEALTH_STYLES = {"healthy": "green", "failing": "yellow", "disabled": "red"}
STATUS_STYLES = {"delivered": "green", "pending": "yellow", "failed": "red", "skipped": "dim"}


@webhooks_app.command("list")
def list_webhooks(url: str = URL_OPTION, key: str | None = KEY_OPTION) -> None:
    """Every webhook, oldest first: URL, events, mailboxes, state and health."""
    with client(url, key) as api:
        hooks = _every_webhook(api)
    if not hooks:
        console.print("No webhooks yet; add one with `tidings webhooks create URL --event ...`.")
        return
    console.print(_webhooks_table(hooks))


@webhooks_app.command("show")
def show(webhook_id: int = WEBHOOK_ID, url: str = URL_OPTION, key: str | None = KEY_OPTION) -> None:
    """One webhook, every setting and its health."""
    with client(url, key) as api:
        console.print(_details(request(api, "GET", f"/api/webhooks/{webhook_id}")))


@webhooks_app.command("create")
def create(
    target: str = typer.Argument(..., metavar="TARGET_URL", help="Where the events are POSTed."),
    event: list[str] = typer.Option(
        ...,
        "--event",
        "-e",
        help="An event type to send (repeat it, or comma-separate); '*' for every event.",
    ),
    mailbox: list[int] = typer.Option(
        [], "--mailbox", "-m", help="Only these mailboxes' events (repeat it; default: all)."
    ),
    disabled: bool = typer.Option(
        False, "--disabled", help="Create it disabled: events are kept as skipped, not sent."
    ),
    payload_format: str | None = typer.Option(
        None, "--format", help="freescout (the entity as the body, the default) or envelope."
    ),
    ordered: bool | None = typer.Option(
        None, "--ordered/--unordered", help="One conversation's events arrive in log order."
    ),
    max_concurrency: int | None = typer.Option(
        None, "--max-concurrency", help="Deliveries in flight at once, 1-100 (default 10)."
    ),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
) -> None:
    """Subscribe TARGET_URL to events; prints the signing secret, which is shown only now."""
    body: dict[str, Any] = {
        "url": target,
        "events": [name.strip() for value in event for name in value.split(",") if name.strip()],
        "mailboxes": mailbox,
        "enabled": not disabled,
    }
    optional = {
        "format": payload_format,
        "orderedDelivery": ordered,
        "maxConcurrency": max_concurrency,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    with client(url, key) as api:
        made = request(api, "POST", "/api/webhooks", body)
    console.print(f"Created webhook {made['id']}.")
    _print_secret(made["secret"])
    if made.get("ignoredEvents"):
        ignored = ", ".join(made["ignoredEvents"])
        console.print(Text(f"warning: unknown event types ignored: {ignored}", style="yellow"))
    console.print(_details(made))


@webhooks_app.command("rotate-secret")
def rotate_secret(
    webhook_id: int = WEBHOOK_ID, url: str = URL_OPTION, key: str | None = KEY_OPTION
) -> None:
    """A new signing secret; the previous one keeps signing beside it for a grace period."""
    with client(url, key) as api:
        rotated = request(api, "POST", f"/api/webhooks/{webhook_id}/rotate-secret")
    console.print(f"Rotated the signing secret of webhook {webhook_id}.")
    _print_secret(rotated["secret"])
    console.print(
        "The previous secret keeps signing beside the new one for the server's grace period"
        " (TIDINGS_SECRET_ROTATION_GRACE_HOURS, 24 h by default): switch receivers before then."
    )


@webhooks_app.command("enable")
def enable(
    webhook_id: int = WEBHOOK_ID, url: str = URL_OPTION, key: str | None = KEY_OPTION
) -> None:
    """Start delivering again (clears the failure streak); what was missed stays skipped."""
    hook = _set_enabled(webhook_id, True, url, key)
    console.print(f"Webhook {webhook_id} enabled (health: {hook['health']['status']}).")
    console.print(
        "Events missed while it was disabled stay skipped; replay them with"
        f" `tidings webhooks redeliver {webhook_id} --since DATETIME`."
    )


@webhooks_app.command("disable")
def disable(
    webhook_id: int = WEBHOOK_ID, url: str = URL_OPTION, key: str | None = KEY_OPTION
) -> None:
    """Stop delivering; events meanwhile are kept as skipped deliveries, for a replay."""
    _set_enabled(webhook_id, False, url, key)
    console.print(f"Webhook {webhook_id} disabled; its events are kept as skipped deliveries.")


@webhooks_app.command("deliveries")
def deliveries(
    webhook_id: int = WEBHOOK_ID,
    status: str | None = typer.Option(
        None, help="Only pending, delivered, failed (retries ran out) or skipped ones."
    ),
    event_type: str | None = typer.Option(None, "--type", help="Only this event type."),
    since: str | None = typer.Option(None, help="Made at or after (ISO 8601)."),
    until: str | None = typer.Option(None, help="Made before (ISO 8601)."),
    page: int = typer.Option(1, help="Which page (newest first)."),
    page_size: int = typer.Option(20, "--page-size", help="Deliveries per page."),
    attempts: bool = typer.Option(False, "--attempts", help="Also list every attempt."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
) -> None:
    """The webhook's deliveries, newest first: event, status and the last answer."""
    query = {
        "status": status,
        "type": event_type,
        "since": since,
        "until": until,
        "page": page,
        "pageSize": page_size,
    }
    with client(url, key) as api:
        found = request(
            api,
            "GET",
            f"/api/webhooks/{webhook_id}/deliveries",
            params={k: v for k, v in query.items() if v is not None},
        )
    items, paging = found["_embedded"]["deliveries"], found["page"]
    if not items:
        console.print(f"No deliveries match (webhook {webhook_id}).")
        return
    console.print(_deliveries_table(items))
    if attempts:
        console.print(_attempts_table(items))
    console.print(
        f"Page {paging['number']} of {paging['totalPages']}"
        f" ({paging['totalElements']} deliveries, newest first)."
    )


@webhooks_app.command("redeliver")
def redeliver(
    webhook_id: int = WEBHOOK_ID,
    delivery: str | None = typer.Option(None, help="Send this delivery (msg_...) again."),
    since: str | None = typer.Option(
        None, help="Send again every delivery made since then (ISO 8601, e.g. 2026-12-01T00:00Z)."
    ),
    until: str | None = typer.Option(None, help="With --since: made before then (ISO 8601)."),
    status: list[str] = typer.Option(
        [],
        help="With --since: only these statuses: failed, skipped, delivered (repeat it;"
        " default failed and skipped).",
    ),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
) -> None:
    """Queue one delivery, or every failed and skipped one since a time, for sending again."""
    if (delivery is None) == (since is None):
        raise typer.BadParameter("give one of them", param_hint="'--delivery' or '--since'")
    if delivery is not None and (status or until):
        raise typer.BadParameter("only with --since", param_hint="'--status' or '--until'")
    path = f"/api/webhooks/{webhook_id}/redeliver"
    with client(url, key) as api:
        if delivery is not None:
            _print_requeued(request(api, "POST", path, {"deliveryId": delivery}))
            return
        given = {"since": since, "until": until, "status": status or None}
        body = {k: v for k, v in given.items() if v is not None}
        op = follow_operation(api, request(api, "POST", path, body), f"redeliver {webhook_id}")
    console.print(
        f"Operation {op['id']} {op['status']}: {op['succeeded']} succeeded, {op['failed']} failed"
        + (f", error: {op['error']}" if op.get("error") else ""),
        markup=False,
    )
    if op["status"] != "completed":
        raise typer.Exit(1)


@webhooks_app.command("test")
def send_test(
    webhook_id: int = WEBHOOK_ID,
    wait: bool = typer.Option(False, "--wait", help="Wait for the delivery's outcome."),
    timeout: float = typer.Option(30.0, help="With --wait: give up after this many seconds."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
) -> None:
    """Send a webhook.test event to this webhook alone (and with --wait, report the answer)."""
    with client(url, key) as api:
        event = request(api, "POST", f"/api/webhooks/{webhook_id}/test")
        console.print(f"sent webhook.test event {event['id']} (seq {event['seq']})")
        if not wait:
            return
        found = _await_outcome(api, webhook_id, event["id"], timeout)
    _report_outcome(found, timeout)


def _every_webhook(api: httpx.Client) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = []
    page = 1
    while True:
        found = request(api, "GET", "/api/webhooks", params={"page": page, "pageSize": 100})
        hooks += found["_embedded"]["webhooks"]
        if page >= found["page"]["totalPages"]:
            return hooks
        page += 1


def _set_enabled(webhook_id: int, enabled: bool, url: str, key: str | None) -> Any:
    """PUT ``enabled`` and read the webhook back."""
    with client(url, key) as api:
        request(api, "PUT", f"/api/webhooks/{webhook_id}", {"enabled": enabled})
        return request(api, "GET", f"/api/webhooks/{webhook_id}")


def _print_secret(secret: str) -> None:
    console.print("[bold yellow]Signing secret, shown only now (it cannot be read again):[/]")
    console.print(Text(secret, style="bold"))


def _print_requeued(delivery: dict[str, Any]) -> None:
    event = delivery["event"]
    console.print(
        f"Requeued delivery {delivery['id']} (sequence {delivery['sequence']},"
        f" {event['type']} event {event['id']}, seq {event['seq']}): {delivery['status']}.",
        markup=False,
    )


def _await_outcome(
    api: httpx.Client, webhook_id: int, event_id: str, timeout: float
) -> dict[str, Any] | None:
    """The delivery of ``event_id`` once it has finished, or as it stands at the timeout
    (``None``: not made yet)."""
    deadline = time.monotonic() + timeout
    with console.status("waiting for the delivery..."):
        while True:
            found = _delivery_of(api, webhook_id, event_id)
            if (found and found["status"] in FINISHED) or time.monotonic() >= deadline:
                return found
            time.sleep(0.2)


def _delivery_of(api: httpx.Client, webhook_id: int, event_id: str) -> dict[str, Any] | None:
    path = f"/api/webhooks/{webhook_id}/deliveries"
    page = request(api, "GET", path, params={"type": "webhook.test", "pageSize": 50})
    mine: list[dict[str, Any]] = [
        d for d in page["_embedded"]["deliveries"] if d["event"]["id"] == event_id
    ]
    return mine[0] if mine else None


def _report_outcome(delivery: dict[str, Any] | None, timeout: float) -> None:
    if delivery is None:
        console.print(f"No delivery was made within {timeout:g} s.")
        raise typer.Exit(1)
    tries = len(delivery["attempts"])
    last = _last_answer(delivery)
    if delivery["status"] == "delivered":
        console.print(Text(f"delivered {delivery['id']}: {last} (attempt {tries})", "green"))
        return
    if delivery["status"] in FINISHED:
        console.print(Text(f"{delivery['status']} {delivery['id']}: {last}", "red"))
    else:
        console.print(
            Text(f"still {delivery['status']} after {timeout:g} s, attempts so far {tries}: {last}")
        )
    raise typer.Exit(1)


def _webhooks_table(hooks: list[dict[str, Any]]) -> Table:
    # Health says "disabled" exactly when the webhook is, so there is no Enabled column.
    table = _table("ID", "URL", "Events", "Mailboxes", "Health", "Last run (UTC)", keep=1)
    for hook in hooks:
        table.add_row(
            str(hook["id"]),
            Text(hook["url"]),
            Text(", ".join(hook["events"])),
            Text(_mailboxes(hook)),
            _health(hook["health"]),
            _last_run(hook, _time),
        )
    return table


def _details(hook: dict[str, Any]) -> Table:
    health = hook["health"]
    rows: dict[str, Any] = {
        "ID": hook["id"],
        "URL": hook["url"],
        "Events": ", ".join(hook["events"]),
        "Mailboxes": _mailboxes(hook),
        "Enabled": "yes" if hook["enabled"] else "no",
        "Format": hook["format"],
        "Ordered delivery": "yes" if hook["orderedDelivery"] else "no",
        "Max concurrency": hook["maxConcurrency"],
        "Health": _health(health),
        "Failing since": health.get("failingSince"),
        "Lagging since": health.get("laggingSince"),
        "Last success": health.get("lastSuccessAt"),
        "Disabled at": health.get("disabledAt"),
        "Disabled because": health.get("disabledReason"),
        "Last run": _last_run(hook, str),
        "Created": hook["createdAt"],
        "Updated": hook["updatedAt"],
    }
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows.items():
        if value is not None:
            table.add_row(name, value if isinstance(value, Text) else Text(str(value)))
    return table


def _deliveries_table(items: list[dict[str, Any]]) -> Table:
    # The id and its creation time share a cell: the table then fits in 80 columns.
    table = _table("Seq", "Delivery, created (UTC)", "Event", "Status", "Tries", "Last answer")
    for d in items:
        status = Text(d["status"], style=STATUS_STYLES.get(d["status"], ""))
        if d["status"] == "pending" and d.get("nextAttemptAt"):
            status.append(f"\nnext {_time(d['nextAttemptAt'])}", style="dim")
        table.add_row(
            str(d["sequence"]),
            Text(d["id"]).append(f"\n{_time(d['createdAt'])}", style="dim"),
            Text(d["event"]["type"]),
            status,
            str(len(d["attempts"])),
            Text(_last_answer(d)),
        )
    return table


def _attempts_table(items: list[dict[str, Any]]) -> Table:
    table = _table("Seq", "#", "Started (UTC)", "Code", "Latency", "Error", "Answer")
    table.title = "Attempts"
    for d in items:
        for attempt in d["attempts"]:
            error = attempt.get("errorClass")
            if attempt.get("error"):
                error = f"{error}: {attempt['error']}" if error else attempt["error"]
            table.add_row(
                str(d["sequence"]),
                str(attempt["number"]),
                _time(attempt["startedAt"]),
                _dash(attempt.get("statusCode")),
                _dash(attempt.get("latencyMs"), " ms"),
                Text(error or "-", style="red" if error else ""),
                Text(" ".join((attempt.get("responseBody") or "").split())[:80] or "-"),
            )
    return table


def _table(*headers: str, keep: int = 2) -> Table:
    """A compact table whose first ``keep`` columns (ids) never wrap; on a narrow terminal
    the others fold rather than lose characters to an ellipsis."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
        pad_edge=False,
        title_justify="left",
    )
    for n, header in enumerate(headers):
        table.add_column(header, no_wrap=n < keep, overflow="fold")
    return table


def _last_answer(delivery: dict[str, Any]) -> str:
    """``200 in 3 ms``, ``Timeout: ...``, or ``-`` before any attempt."""
    if not delivery["attempts"]:
        return "-"
    last = delivery["attempts"][-1]
    if last.get("statusCode") is not None:
        answer = f"{last['statusCode']} in {last.get('latencyMs')} ms"
        return answer + (f" ({last['error']})" if last.get("error") else "")
    return f"{last.get('errorClass') or 'error'}: {last.get('error') or 'no answer'}"


def _health(health: dict[str, Any]) -> Text:
    status = health["status"]
    text = Text(status, style=HEALTH_STYLES.get(status, ""))
    if health.get("consecutiveFailures"):
        text.append(f" ({health['consecutiveFailures']} in a row)")
    return text


def _last_run(hook: dict[str, Any], when: Callable[[str], str]) -> Text:
    text = Text(when(hook["lastRunTime"]) if hook.get("lastRunTime") else "never")
    if hook.get("lastRunError"):
        text.append(f"\n{hook['lastRunError']}", style="red")
    return text


def _mailboxes(hook: dict[str, Any]) -> str:
    return ", ".join(map(str, hook["mailboxes"])) or "all"


def _time(value: str) -> str:
    """``2026-12-06 05:19:52`` for the API's ``2026-12-06T05:19:52Z`` (tables say UTC)."""
    return value.replace("T", " ").removesuffix("Z")


def _dash(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"

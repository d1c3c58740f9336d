"""``tidings conversations``: bulk operations on conversations, through a server's API.

``bulk`` is a dry run, a confirmation for destructive actions, then ``POST
/api/operations`` followed under a progress bar; what did not change, and why, comes
from ``GET /api/operations/{id}/items`` (docs/api.md#bulk-operations-apioperations).
"""

from __future__ import annotations

from typing import Any

import httpx
import typer

from tidings.cli_support import KEY_OPTION, URL_OPTION, client, console, follow_operation, request

conversations_app = typer.Typer(help="Work on conversations through the API.", no_args_is_help=True)

# The outcomes worth a line, and what they mean; ``changed`` needs none.
OUTCOMES = {
    "missing": "they no longer existed",
    "unchanged": "already as asked, or no longer selected",
    "pending": "not done: the operation stopped before them",
}
SHOWN = 20  # ids listed per outcome


@conversations_app.command("bulk")
def bulk(
    action: str = typer.Argument(
        ..., help="delete, restore, delete_forever, empty_trash, status, assign, move or tag"
    ),
    ids: str = typer.Option(None, help="Comma-separated conversation ids."),
    mailbox: int = typer.Option(None, help="Filter: mailbox id."),
    folder: int = typer.Option(None, help="Filter: folder id."),
    state: str = typer.Option(None, help="Filter: draft, published or deleted."),
    status: str = typer.Option(None, help="Filter: active, pending, closed or spam."),
    tag: str = typer.Option(None, help="Filter: tag name."),
    by_user: int = typer.Option(None, "--by-user", help="The acting user id."),
    param: list[str] = typer.Option(
        [], help="Action parameter as key=value (status=closed, user=3, mailboxId=2, tags=a,b)."
    ),
    atomic: bool = typer.Option(False, help="All or nothing, in one transaction."),
    timeout: int = typer.Option(None, help="Give up (timed_out) after this many seconds."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only say how many conversations it selects; change nothing."
    ),
    yes: bool = typer.Option(False, "--yes", help="Confirm destructive actions without asking."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
) -> None:
    """Run a bulk operation through the API and follow it with a live progress bar."""
    found = {"mailboxId": mailbox, "folderId": folder, "state": state, "status": status}
    criteria = {k: v for k, v in {**found, "tag": tag}.items() if v is not None}
    body: dict[str, Any] = {"action": action, "atomic": atomic, "params": _params(param)}
    body.update(_selection(ids, criteria))
    if by_user is not None:
        body["byUser"] = by_user
    if timeout is not None:
        body["timeoutSeconds"] = timeout
    with client(url, key) as api:
        plan = request(api, "POST", "/api/operations", {**body, "dryRun": True})
        console.print(f"{action}: {plan['total']} conversation(s) selected.", markup=False)
        if dry_run:
            console.print("Dry run: nothing was changed.")
            return
        if "confirmToken" in plan:
            if not yes and not typer.confirm("This destroys them for good. Continue?"):
                raise typer.Exit(1)
            body["confirmToken"] = plan["confirmToken"]
        op = request(api, "POST", "/api/operations", body)
        op = follow_operation(api, op, f"{action} {op['id']}")
        _report(api, op)


def _selection(ids: str | None, criteria: dict[str, Any]) -> dict[str, Any]:
    """``conversationIds`` or ``filter``; a usage error (exit 2) for neither or both."""
    if ids is not None and criteria:
        raise typer.BadParameter("give --ids or filters, not both", param_hint="'--ids'")
    if ids is not None:
        return {"conversationIds": _ids(ids)}
    if not criteria:
        raise typer.BadParameter(
            "choose the conversations: --ids 1,2,3, or filters (--mailbox, --folder,"
            " --state, --status, --tag)",
            param_hint="'--ids' or a filter",
        )
    return {"filter": criteria}


def _ids(value: str) -> list[int]:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    for part in parts:
        if not part.isdigit():
            raise typer.BadParameter(
                f"{part!r} is not a conversation id; give numbers separated by commas,"
                " e.g. --ids 1,2,3",
                param_hint="'--ids'",
            )
    if not parts:
        raise typer.BadParameter("no ids; e.g. --ids 1,2,3", param_hint="'--ids'")
    return [int(part) for part in parts]


def _params(pairs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="'--param'")
        if key == "tags":
            result[key] = [t for t in value.split(",") if t]
        elif value.isdigit():
            result[key] = int(value)
        else:
            result[key] = value
    return result


def _report(api: httpx.Client, op: dict[str, Any]) -> None:
    """The operation's end and, per outcome other than ``changed``, its conversations;
    exit 1 unless it completed with no conversation missing."""
    console.print(
        f"Operation {op['id']} {op['status']}: {op['succeeded']} succeeded, {op['failed']} failed"
        + (f", error: {op['error']}" if op.get("error") else ""),
        markup=False,
    )
    for outcome, meaning in OUTCOMES.items():
        if (outcome == "missing" and not op["failed"]) or (
            outcome == "pending" and op["processed"] == op["total"]
        ):
            continue  # none: no need to ask
        path = f"/api/operations/{op['id']}/items"
        page = request(api, "GET", path, params={"outcome": outcome, "pageSize": SHOWN})
        total = page["page"]["totalElements"]
        if total:
            listed = ", ".join(str(item["conversationId"]) for item in page["_embedded"]["items"])
            more = f" and {total - SHOWN} more" if total > SHOWN else ""
            console.print(f"{total} {outcome} ({meaning}): {listed}{more}", markup=False)
    if op["status"] != "completed" or op["failed"]:
        raise typer.Exit(1)

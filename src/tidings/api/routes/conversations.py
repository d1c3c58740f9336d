"""/api/conversations: FreeScout's conversation endpoints, plus state changes and merge."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api import contract as c
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, created, no_content, page_of
from tidings.desk import conversations as convos
from tidings.desk import digest, lifecycle, tags
from tidings.desk import validate as v
from tidings.desk.conversation_views import conversation_json, conversations_json
from tidings.desk.enums import CONVERSATION_STATUSES, ConversationType, State, Status
from tidings.desk.queries import CONVERSATION_SORTS, ConversationFilter, list_conversation_ids
from tidings.errors import InvalidInput, NotFound

router = APIRouter(tags=["conversations"])


class _ConversationId(Convertor[str]):
    """A path segment that is not ``digest``: ``/conversations/digest`` is a route of its
    own, so a PUT or DELETE there is a 405 (with ``Allow: GET``), not a 400 for an id that
    is not a number. FastAPI still reads the segment as an ``int``."""

    regex = "(?!digest$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("conversation_id", _ConversationId())
ONE = "/conversations/{convo_id:conversation_id}"  # openapi.json shows {convo_id}


LIST_PARAMETERS = params.documented(
    ("embed", "string", "threads, tags (comma-separated)"),
    ("mailboxId", "string", "One id or a comma-separated list"),
    ("folderId", "integer", ""),
    ("status", "string", "active, pending, closed, spam (comma-separated)"),
    ("state", "string", "draft, published (default) or deleted; `all` for every state"),
    ("type", "string", "email, phone, chat"),
    ("assignedTo", "string", "A user id; empty or 0 for unassigned"),
    ("customerEmail", "string", ""),
    ("customerPhone", "string", ""),
    ("customerId", "integer", ""),
    ("number", "integer", ""),
    ("subject", "string", "Substring match"),
    ("tag", "string", ""),
    ("createdByUserId", "integer", ""),
    ("createdByCustomerId", "integer", ""),
    ("createdSince", "string", "ISO 8601"),
    ("updatedSince", "string", "ISO 8601"),
    ("sortField", "string", ", ".join(CONVERSATION_SORTS)),
    ("sortOrder", "string", "desc (default) or asc"),
    ("page", "integer", ""),
    ("pageSize", "integer", "1 to TIDINGS_MAX_PAGE_SIZE (default 50)"),
)


@router.get("/conversations", openapi_extra=LIST_PARAMETERS, responses=c.page("conversations"))
@read_route
def list_conversations(request: Request, ctx: Context = Depends(context)) -> Response:
    q = request.query_params
    embedded = params.embeds(q.get("embed")) or set()
    tag = q.get("tag")
    f = ConversationFilter(
        mailbox_ids=params.id_list(q.get("mailboxId"), "mailboxId"),
        folder_id=params.integer(q, "folderId"),
        statuses=params.enum_list(q.get("status"), "status", Status, CONVERSATION_STATUSES),
        state=_state_filter(q.get("state")),
        type=params.one_enum(q.get("type"), "type", ConversationType),
        customer_email=q.get("customerEmail"),
        customer_phone=q.get("customerPhone"),
        customer_id=params.integer(q, "customerId"),
        number=params.integer(q, "number"),
        subject=q.get("subject"),
        tag=tags.normalize(tag) if tag else None,
        created_by_user_id=params.integer(q, "createdByUserId"),
        created_by_customer_id=params.integer(q, "createdByCustomerId"),
        created_since=params.date(q.get("createdSince"), "createdSince"),
        updated_since=params.date(q.get("updatedSince"), "updatedSince"),
    )
    assigned_to = q.get("assignedTo")
    if assigned_to is not None:
        if assigned_to in ("", "0"):
            f.unassigned = True
        else:
            assignee = params.id_list(assigned_to, "assignedTo") or []
            if len(assignee) != 1:
                raise params.invalid("assignedTo", "`assignedTo` must be one user id")
            f.assigned_to = assignee[0]
    field, descending = params.sort(q.get("sortField"), q.get("sortOrder"), CONVERSATION_SORTS)
    pg = params.page(
        params.integer(q, "page", empty_ok=False),
        params.integer(q, "pageSize", empty_ok=False),
        ctx.settings.max_page_size,
    )
    with ctx.read() as conn:
        ids, total = list_conversation_ids(conn, f, field, descending, pg)
        items = conversations_json(
            conn, ids, with_threads="threads" in embedded, with_tags="tags" in embedded
        )
    return page_of("conversations", items, pg, total)


def _state_filter(value: str | None) -> int | None:
    # FreeScout applies no default and so lists trashed conversations; a client
    # expects the inbox, so the default is `published` (compatibility.md).
    if value is None:
        return State.PUBLISHED
    if value == "all":
        return None
    return params.one_enum(value, "state", State)


DIGEST_PARAMETERS = params.documented(
    ("mailboxId", "integer", "Only this mailbox's conversations"),
    ("updatedSince", "string", "ISO 8601: only conversations updated at or after it"),
    ("buckets", "integer", f"1 to {digest.MAX_BUCKETS} (default {digest.DEFAULT_BUCKETS})"),
    ("bucket", "integer", "Also list this bucket's conversations (0 to buckets - 1)"),
)


# Registered before /conversations/{convo_id}, which would take `digest` for an id. A plain
# ``def`` (the thread pool), not a ``read_route``: a million conversations take about 1.4 s
# to hash, which on the event loop would stall every other request.
@router.get(
    "/conversations/digest",
    openapi_extra=DIGEST_PARAMETERS,
    responses={
        **c.ok("ConversationDigest"),
        **c.not_found("`bucket` is not below `buckets`: there is no such bucket."),
    },
)
def conversation_digest(request: Request, ctx: Context = Depends(context)) -> Response:
    """Tidings extension: counts and hashes of (id, updatedAt, state) in buckets."""
    q = request.query_params
    buckets = params.integer(q, "buckets", empty_ok=False)
    buckets = digest.DEFAULT_BUCKETS if buckets is None else buckets
    if not 1 <= buckets <= digest.MAX_BUCKETS:
        raise params.invalid("buckets", f"`buckets` must be between 1 and {digest.MAX_BUCKETS}")
    bucket = params.integer(q, "bucket", empty_ok=False)
    if bucket is not None and not 0 <= bucket < digest.MAX_BUCKETS:
        raise params.invalid("bucket", f"`bucket` must be between 0 and {digest.MAX_BUCKETS - 1}")
    mailbox_id = params.integer(q, "mailboxId", empty_ok=False)
    since = params.date(q.get("updatedSince"), "updatedSince")
    if bucket is not None and bucket >= buckets:
        raise NotFound(
            f"There is no bucket {bucket}: with {buckets} buckets they are 0 to {buckets - 1}"
        )
    with ctx.read() as conn:
        found = digest.conversation_digest(
            conn, buckets, mailbox_id=mailbox_id, updated_since=since, listed=bucket
        )
    return JSON(found.as_json())


@router.get(ONE, responses=c.ok("Conversation"))
@read_route
def get_conversation(
    convo_id: int, ctx: Context = Depends(context), embed: str | None = None
) -> Response:
    embedded = params.embeds(embed or None)  # Laravel reads `embed=` as no embed
    with_threads = embedded is None or "threads" in embedded
    with ctx.read() as conn:
        found = conversations_json(
            conn,
            [convo_id],
            with_threads=with_threads,
            with_tags=bool(embedded and "tags" in embedded),
        )
    if not found:
        raise NotFound()
    return JSON(found[0])


@router.post(
    "/conversations",
    status_code=201,
    openapi_extra=bodies.CREATE_CONVERSATION,
    responses=c.created("Conversation"),
)
def create_conversation(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        convo = convos.create_conversation(tx, body)
    return created(convo["id"], convo)


@router.put(ONE, status_code=204, openapi_extra=bodies.UPDATE_CONVERSATION)
def update_conversation(
    convo_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        convos.update_conversation(tx, convo_id, body)
    return no_content()


def _delete(ctx: Context, convo_id: int) -> Response:
    with ctx.change() as tx:
        if not lifecycle.delete_forever(tx, [convo_id]):
            raise NotFound()
    return no_content()


@router.delete(ONE, status_code=204)
def delete_conversation(convo_id: int, ctx: Context = Depends(context)) -> Response:
    return _delete(ctx, convo_id)


@router.post(
    "/conversations/{convo_id}/threads",
    status_code=201,
    openapi_extra=bodies.CREATE_THREAD,
    responses=c.created("NewThread"),
)
def create_thread(
    convo_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        thread_id = convos.add_thread(tx, convo_id, body)
        convo = conversation_json(tx.conn, convo_id)
    assert convo is not None
    # A draft is not among the published threads; it is answered with its id only.
    thread = next(
        (t for t in convo["_embedded"]["threads"] if t["id"] == thread_id), {"id": thread_id}
    )
    return created(thread_id, thread)


@router.put("/conversations/{convo_id}/tags", status_code=204, openapi_extra=bodies.TAGS)
def update_tags(
    convo_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    if "tags" not in body:
        raise InvalidInput.field("tags", "`tags` parameter is required")
    names = tags.parse_names(body.get("tags"))
    with ctx.change() as tx:
        convos.lock(tx.conn, convo_id)
        tags.set_tags(tx, [convo_id], names)
    return no_content()


@router.put("/conversations/{convo_id}/custom_fields", status_code=400, responses=c.errors(400))
def update_custom_fields(convo_id: int) -> Response:
    raise InvalidInput("Custom Fields module is not installed or not activated")


@router.get("/conversations/{convo_id}/timelogs", status_code=400, responses=c.errors(400))
def list_timelogs(convo_id: int) -> Response:
    raise InvalidInput("Time Tracking module is not installed or not activated")


@router.post("/conversations/{convo_id}/merge", status_code=204, openapi_extra=bodies.MERGE)
def merge_conversations(
    convo_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    """Tidings extension: merge `conversationId` into this conversation."""
    source = v.required_int(body, "conversationId")
    by_user = v.integer(body, "byUser")
    if by_user is None:
        raise InvalidInput.field("byUser", "byUser parameter is required.")
    with ctx.change() as tx:
        convos.require_user(tx.conn, by_user, "byUser")
        lifecycle.merge(tx, convo_id, source, by_user)
    return no_content()

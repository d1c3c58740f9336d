"""/api/customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api import contract as c
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, created, no_content, page_of
from tidings.desk import customers
from tidings.desk.queries import CUSTOMER_SORTS, CustomerFilter, list_customer_ids
from tidings.desk.views import customers_json, full_customer
from tidings.errors import InvalidInput, NotFound

router = APIRouter(tags=["customers"])


@router.get("/customers", responses=c.page("customers"))
@read_route
def list_customers(
    ctx: Context = Depends(context),
    firstName: str | None = None,
    lastName: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    updatedSince: str | None = None,
    sortField: str | None = None,
    sortOrder: str | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    f = CustomerFilter(firstName, lastName, phone, email, params.date(updatedSince, "updatedSince"))
    field, descending = params.sort(sortField, sortOrder, CUSTOMER_SORTS)
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        ids, total = list_customer_ids(conn, f, field, descending, pg)
        items = customers_json(conn, ids)
    return page_of("customers", items, pg, total)


@router.get("/customers/{customer_id}", responses=c.ok("Customer"))
@read_route
def get_customer(customer_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        found = full_customer(conn, customer_id)
    if found is None:
        raise NotFound()
    return JSON(found)


@router.post(
    "/customers",
    status_code=201,
    openapi_extra=bodies.CREATE_CUSTOMER,
    responses=c.created("Customer"),
)
def create_customer(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        customer_id = customers.create_customer(tx, body)
        payload = full_customer(tx.conn, customer_id)
    return created(customer_id, payload)


@router.put("/customers/{customer_id}", status_code=204, openapi_extra=bodies.UPDATE_CUSTOMER)
def update_customer(
    customer_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        customers.update_customer(tx, customer_id, body)
    return no_content()


@router.put("/customers/{customer_id}/customer_fields", status_code=400, responses=c.errors(400))
def update_customer_fields(customer_id: int) -> Response:
    raise InvalidInput("Customer Fields module is not installed or not activated")

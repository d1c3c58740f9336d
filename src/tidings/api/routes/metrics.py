"""GET /metrics: Prometheus' text format, behind the API key (docs/metrics.md).

On the API's port but outside ``/api``: it is not part of FreeScout's API, and it is left
out of openapi.json for the same reason (its body is not JSON).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.responses import Response

from tidings.api.context import Context, authorize, context, read_route
from tidings.operations.model import OperationStatus
from tidings.webhooks import metrics

router = APIRouter(tags=["metrics"])


def install(app: FastAPI, ctx: Context) -> None:
    """Serve this app's metrics (its own registry) at ``/metrics``."""
    app.state.metrics = metrics.registry(ctx.db, ctx.clock, [s.value for s in OperationStatus])
    app.include_router(router, dependencies=[Depends(authorize)])


@router.get("/metrics", include_in_schema=False)
@read_route
def scrape(request: Request, ctx: Context = Depends(context)) -> Response:
    # The database's gauges are read now, in one read transaction: a read route's work.
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

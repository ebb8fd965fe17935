"""The console's read-only pages: the fleet table, one profile with its status history, the
status logs (and their CSV export), the devices and one device. Query parameters are checked
here and a bad one is a BadInputError (an error page, never a server error)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from esimflow.machines.profile_status import Status
from sgp22.errors import BadInputError
from sgp22.masking import mask_secrets_in

from esimcli.console.accounts import Account
from esimcli.console.charts import status_diagram
from esimcli.console.sources import SORT_KEYS, FleetQuery, LogQuery, logs_csv
from esimcli.console.web import SECURITY_HEADERS, Console

LOG_EXPORT_LIMIT = 100_000


async def fleet(console: Console, request: Request, user: Account) -> Response:
    q = request.query_params
    query = FleetQuery(iccid=q.get("iccid", ""), eid=q.get("eid", ""), status=q.get("status", "").upper(),
                       operator=q.get("operator", ""), smdp=q.get("smdp", ""), sort=q.get("sort", "iccid"),
                       descending=q.get("order") == "desc", page=_int(q.get("page"), 1),
                       per_page=_int(q.get("per_page"), 50))
    rows, total = await run_in_threadpool(console.sources.fleet, query)
    pages = max(1, -(-total // query.per_page))
    base = {k: v for k, v in q.items() if k not in ("page", "sort", "order")}

    def link(**changes: Any) -> str:
        return "/fleet?" + urlencode({**base, "sort": query.sort, "order": "desc" if query.descending else "asc",
                                      "page": query.page, **changes})

    return console.page(request, "fleet.html", user, rows=rows, total=total, query=query, pages=pages, link=link,
                        sort_keys=SORT_KEYS)


async def _detail_context(console: Console, iccid: str) -> dict[str, Any]:
    records = await run_in_threadpool(console.sources.profile_records, iccid)
    row = await run_in_threadpool(console.sources.current, iccid)
    status = row.status if row else (records[-1].to_status if records else None)
    return dict(iccid=iccid, records=records, row=row, status=status, diagram=Markup(status_diagram(status)))


async def profile_detail(console: Console, request: Request, user: Account) -> Response:
    return console.page(request, "detail.html", user, **await _detail_context(console, _iccid(request)))


async def profile_page(console: Console, request: Request, user: Account) -> Response:
    return console.page(request, "profile.html", user, **await _detail_context(console, _iccid(request)))


def _log_query(request: Request) -> tuple[LogQuery, dict[str, str]]:
    q = request.query_params
    form = {name: q.get(name, "") for name in ("since", "until", "status", "operation")}
    form["errors"] = q.get("errors", "")
    status = form["status"].upper()
    if status and status not in set(Status):
        raise BadInputError(f"{form['status']!r} is not a profile status")
    query = LogQuery(since=_datetime(form["since"], "from"), until=_datetime(form["until"], "to"), status=status,
                     operation=form["operation"], errors_only=bool(form["errors"]), page=_int(q.get("page"), 1),
                     per_page=min(_int(q.get("per_page"), 100), 1000))
    return query, form


async def logs(console: Console, request: Request, user: Account) -> Response:
    query, form = _log_query(request)
    records = await run_in_threadpool(console.sources.logs, query)
    operations = await run_in_threadpool(console.sources.operations)
    filters = {k: v for k, v in form.items() if v}
    return console.page(request, "logs.html", user, records=records, form=form, query=query, operations=operations,
                        csv_link="/logs.csv?" + urlencode(filters),
                        next_link="/logs?" + urlencode({**filters, "page": query.page + 1}),
                        previous_link="/logs?" + urlencode({**filters, "page": query.page - 1}))


async def logs_export(console: Console, request: Request, user: Account) -> Response:
    query, _ = _log_query(request)
    records = await run_in_threadpool(console.sources.all_logs, query, LOG_EXPORT_LIMIT)
    return Response(mask_secrets_in(logs_csv(records)), media_type="text/csv", headers={
        **SECURITY_HEADERS,
        "content-disposition": f'attachment; filename="profile-logs-{now():%Y%m%dT%H%M%SZ}.csv"'})


async def devices(console: Console, request: Request, user: Account) -> Response:
    rows = await run_in_threadpool(console.sources.devices)
    return console.page(request, "devices.html", user, rows=rows)


async def device_page(console: Console, request: Request, user: Account) -> Response:
    eid = request.path_params["eid"]
    if not eid.isdigit() or len(eid) != 32:
        raise BadInputError("an EID is 32 digits")
    device, profiles, records, migrations = await run_in_threadpool(console.sources.device, eid)
    return console.page(request, "device.html", user, eid=eid, device=device, profiles=profiles, records=records,
                        migrations=migrations)


def now() -> datetime:
    return datetime.now(UTC)


def _iccid(request: Request) -> str:
    iccid: str = request.path_params["iccid"]
    if not iccid.isdigit() or not 18 <= len(iccid) <= 20:
        raise BadInputError("an ICCID is 18 to 20 digits")
    return iccid


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        raise BadInputError(f"{text!r} is not a number") from None


def _datetime(text: str, name: str) -> datetime | None:
    """A ``datetime-local`` field's value, read as UTC (the page shows UTC times)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise BadInputError(f"the {name} time {text!r} is not a date and time") from None

"""Request and response objects shared by the two cloud modules and the server."""

import uuid
from dataclasses import dataclass, field

import orjson


@dataclass
class Request:
    method: str
    path: str  # raw (still percent-encoded) path, without the query
    raw_query: str
    query: dict  # decoded, first value of each key
    headers: dict  # lower-case name -> value
    body: bytes
    host: str
    base_url: str  # scheme://host[:port] of fakecloud as the client reached it
    request_id: str = ""
    params: dict = field(default_factory=dict)  # path parameters from the route
    duplicate: dict = None  # the duplicate-ids fault, when it fires for this request


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    headers: list = field(default_factory=list)
    cloud: str = "huawei"


def huawei_request_id():
    return uuid.uuid4().hex


def json_response(status, payload, request_id, extra_headers=()):
    # Compact UTF-8, as MetaStudio sends it (orjson: a 100-job page is this server's main cost).
    body = orjson.dumps(payload)
    headers = [("X-Request-Id", request_id), *extra_headers]
    return Response(status, body, "application/json;charset=UTF-8", headers, cloud="huawei")


def match_route(routes, method, path):
    """(operation, params) for the first (op, method, pattern) route matching the path;
    ("method", None) when the path exists only for another method; None when unknown."""
    other_method = False
    for op, route_method, pattern in routes:
        m = pattern.match(path)
        if m:
            if route_method == method:
                return op, m.groupdict()
            other_method = True
    return ("method", None) if other_method else None

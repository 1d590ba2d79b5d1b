"""The emulator's cohort, taxonomy, events-list and annotation endpoints.

* Cohort membership is asynchronous: a request (202), status polls that stay 202 for a few polls,
  then `/file` answers 302 to a pre-signed storage link on this server that expires after 60 s and
  rejects any request carrying an Authorization header, as a pre-signed S3 URL does.
* The taxonomy answers in its `{"success": ..., "data": ...}` envelope, can be switched off as for
  a plan without it (403), and counts cost (a `429` fault stands for the cost limit).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from loader.emulator import metadata as data
from loader.emulator.faults import FaultPlan
from loader.emulator.generator import SyntheticProject

Answer = tuple[int, bytes, str, dict[str, str]]


class Server(Protocol):
    """What these endpoints need of the emulator (which imports this module)."""

    metadata: MetadataState
    faults: FaultPlan

    @property
    def url(self) -> str:
        """The server's base URL."""

    def project_for(self, header: str | None) -> SyntheticProject | None:
        """Return the project whose keys a Basic auth header carries."""


@dataclass
class MetadataState:
    """What the metadata endpoints remember between requests.

    Attributes:
        taxonomy_enabled: False answers every taxonomy call as a plan without it.
        annotations_v3: False answers /api/3/annotations with 404 (only the legacy one works).
        polls_before_done: Status polls answered 202 before a job completes.
        link_seconds: Lifetime of a storage link.
        cohort_revision: Recomputations per cohort (bumps `lastComputed`).
        jobs: Cohort download jobs by request id.
        downloads: Files fetched from storage, by cohort id (for tests).
        storage_requests: Every storage request: whether it carried an Authorization header.
    """

    taxonomy_enabled: bool = True
    annotations_v3: bool = True
    polls_before_done: int = 2
    link_seconds: float = 60.0
    cohort_revision: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    storage_requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _json(status: int, body: Any) -> Answer:
    return status, json.dumps(body, ensure_ascii=False).encode(), "json", {}


def _taxonomy(payload: Any) -> Answer:
    return _json(200, {"success": True, "data": payload})


def handle(
    server: Server, path: str, params: dict[str, str], headers: dict[str, str]
) -> Answer | None:
    """Answer a metadata request, or return None if the path is not one of these endpoints.

    Args:
        server: The emulator.
        path: The request path.
        params: Query parameters.
        headers: Request headers (case as sent).

    Returns:
        (status, body, content kind, extra headers), or None.
    """
    state = server.metadata
    if path.startswith("/_storage/cohort/"):
        return _storage(server, path, params, headers)
    endpoint = _endpoint(path)
    if endpoint is None:
        return None
    project = server.project_for(headers.get("Authorization"))
    if project is None:
        return _json(
            403,
            {
                "error": {
                    "http_code": 403,
                    "type": "unspecified",
                    "message": "Unspecified Error",
                    "metadata": {"details": "Invalid API Key"},
                }
            },
        )
    faults = {f.kind: f for f in server.faults.draw(endpoint, params)}
    if "429" in faults:
        return _json(
            429,
            {
                "error": {
                    "http_code": 429,
                    "type": "rate_limited",
                    "message": "Exceeded rate limit with query of cost 1",
                }
            },
        )
    if endpoint == "taxonomy" and (not state.taxonomy_enabled or "plan_gated" in faults):
        return _json(
            403,
            {
                "success": False,
                "errors": [{"message": "Your plan does not include the Taxonomy API"}],
            },
        )
    if endpoint == "cohorts":
        return _json(200, {"cohorts": data.cohort_objects(project, state.cohort_revision)})
    if endpoint == "cohort_request":
        return _cohort_request(state, path, params)
    if endpoint == "cohort_status":
        return _cohort_status(state, path)
    if endpoint == "cohort_file":
        return _cohort_file(server, path)
    if endpoint == "events_list":
        return _json(200, {"data": data.events_list()})
    if endpoint == "annotations_v3":
        if not state.annotations_v3:
            return 404, b"Not found", "text", {}
        return _json(200, {"data": data.annotations_v3()})
    if endpoint == "annotations_v2":
        return _json(200, {"data": data.annotations_v2()})
    return _taxonomy_answer(path, params)


def _endpoint(path: str) -> str | None:
    if path == "/api/3/cohorts":
        return "cohorts"
    if path.startswith("/api/5/cohorts/request-status/"):
        return "cohort_status"
    if path.startswith("/api/5/cohorts/request/") and path.endswith("/file"):
        return "cohort_file"
    if path.startswith("/api/5/cohorts/request/"):
        return "cohort_request"
    if path == "/api/2/events/list":
        return "events_list"
    if path == "/api/3/annotations":
        return "annotations_v3"
    if path == "/api/2/annotations":
        return "annotations_v2"
    if path.startswith("/api/2/taxonomy/"):
        return "taxonomy"
    return None


def _cohort_request(state: MetadataState, path: str, params: dict[str, str]) -> Answer:
    cohort = unquote(path.rsplit("/", 1)[1])
    if data.cohort_by_id(cohort) is None:
        return _json(404, {"error": {"http_code": 404, "message": f"cohort {cohort} not found"}})
    request_id = uuid.uuid4().hex
    with state.lock:
        state.jobs[request_id] = {"cohort": cohort, "polls": 0, "props": params.get("props") == "1"}
    return _json(202, {"request_id": request_id, "cohort_id": cohort})


def _cohort_status(state: MetadataState, path: str) -> Answer:
    request_id = path.rsplit("/", 1)[1]
    with state.lock:
        job = state.jobs.get(request_id)
        if job is None:
            return _json(404, {"error": {"http_code": 404, "message": "no such request"}})
        job["polls"] += 1
        done = job["polls"] > state.polls_before_done
    body = {
        "request_id": request_id,
        "cohort_id": job["cohort"],
        "async_status": "JOB COMPLETED" if done else "JOB INPROGRESS",
    }
    return _json(200 if done else 202, body)


def _signature(request_id: str, expires: str) -> str:
    return hashlib.sha256(f"{request_id}|{expires}".encode()).hexdigest()[:16]


def _cohort_file(server: Server, path: str) -> Answer:
    request_id = path.split("/")[-2]
    job = server.metadata.jobs.get(request_id)
    if job is None or job["polls"] <= server.metadata.polls_before_done:
        return _json(400, {"error": {"http_code": 400, "message": "the job is not complete"}})
    expires = str(int(time.time() + server.metadata.link_seconds))
    location = (
        f"{server.url}/_storage/cohort/{request_id}.csv"
        f"?X-Amz-Expires={expires}&X-Amz-Signature={_signature(request_id, expires)}"
    )
    return 302, b"", "text", {"Location": location}


def _storage(server: Server, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
    state = server.metadata
    request_id = path.rsplit("/", 1)[1].removesuffix(".csv")
    expires = params.get("X-Amz-Expires", "0")
    carries_auth = any(k.lower() == "authorization" for k in headers)
    with state.lock:
        state.storage_requests.append(
            {
                "request_id": request_id,
                "authorization": carries_auth,
                "signature": params.get("X-Amz-Signature", ""),
            }
        )
    if carries_auth:  # a pre-signed URL refuses a second way of authenticating
        return (
            400,
            b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism"
            b" allowed</Message></Error>",
            "text",
            {},
        )
    faults = {f.kind: f for f in server.faults.draw("cohort_storage", params)}
    for status in ("500", "503"):
        if status in faults:
            return int(status), b"<Error><Code>InternalError</Code></Error>", "text", {}
    if "echo_headers" in faults:  # an error page that repeats the signed URL it was asked for
        signed = f"{path}?X-Amz-Expires={expires}&X-Amz-Signature={params.get('X-Amz-Signature')}"
        return 400, f"<Error><Code>Bad</Code><URL>{signed}</URL></Error>".encode(), "text", {}
    if params.get("X-Amz-Signature") != _signature(request_id, expires):
        return 403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", "text", {}
    if time.time() > int(expires):
        return (
            403,
            b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            "text",
            {},
        )
    job = state.jobs[request_id]
    spec = data.cohort_by_id(job["cohort"])
    assert spec is not None
    with state.lock:
        state.downloads.append(spec.id)
    return 200, data.cohort_csv(spec, job["props"]), "csv", {}


def _taxonomy_answer(path: str, params: dict[str, str]) -> Answer:
    kind = path.removeprefix("/api/2/taxonomy/").split("/")[0]
    if kind == "category":
        return _taxonomy(data.CATEGORIES)
    if kind == "event":
        return _taxonomy(data.taxonomy_events(params.get("showDeleted") == "true"))
    if kind == "event-property":
        return _taxonomy(data.taxonomy_event_properties(params.get("event_type")))
    if kind == "user-property":
        return _taxonomy(data.taxonomy_user_properties())
    if kind == "group-property":
        return _taxonomy(data.taxonomy_group_properties())
    return _json(400, {"success": False, "errors": [{"message": "Not found"}]})

"""Admin endpoints, behind a bearer token from ``PULSE_ADMIN_TOKEN`` compared in constant time.

Without a configured token every admin endpoint answers 403 and says how to enable it.
Each worker has its own endpoints: with several workers, call each (``pulse up``
prints their ports).

* ``GET /model``: the sentiment model in use (no token needed).
* ``POST /admin/model`` ``{"path": "/models/mine"}``: load, verify and switch to a
  model; a broken one is rejected (400, with the reason) and the old one keeps serving.
* ``GET /rules``: the active rules and the last reload's errors (no token needed).
* ``POST /admin/rules/reload``: read the rule files again; an invalid set is rejected
  (400, every error with file, line and rule) and the running rules stay active.

>>> from pydantic import SecretStr
>>> check_token(SecretStr("s3cret"), "Bearer s3cret"), check_token(SecretStr("s3cret"), "Bearer x")
(None, (401, 'wrong or missing admin token'))
>>> check_token(None, "Bearer s3cret")[0]
403
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View
from pydantic import SecretStr

from models.exceptions import ModelError

if TYPE_CHECKING:
    from streams.app import Pulse

log = logging.getLogger(__name__)


def check_token(configured: SecretStr | None, authorization: str | None) -> tuple[int, str] | None:
    """None when the request may proceed, else (HTTP status, reason)."""
    if configured is None or not configured.get_secret_value():
        return 403, "admin endpoints are disabled: set PULSE_ADMIN_TOKEN to enable them"
    scheme, _, given = (authorization or "").partition(" ")
    expected = configured.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return 401, "wrong or missing admin token"
    return None


def register(pulse: Pulse) -> None:
    """Add the model and admin views to ``pulse.app``."""
    app, token = pulse.app, pulse.settings.admin_token

    def denied(view: View, request: Request, endpoint: str) -> Response | None:
        refused = check_token(token, request.headers.get("Authorization"))
        if refused is None:
            return None
        status, reason = refused
        pulse.metrics.admin_requests.labels(endpoint=endpoint, status=str(status)).inc()
        log.warning("admin %s refused (%d): %s", endpoint, status, reason)
        return view.json({"error": reason}, status=status)

    def answer(view: View, endpoint: str, body: dict[str, Any], status: int) -> Response:
        pulse.metrics.admin_requests.labels(endpoint=endpoint, status=str(status)).inc()
        return view.json(body, status=status)

    @app.page("/model")
    class Model(View):
        async def get(self, request: Request) -> Response:
            return self.json(pulse.sentiment.describe())

    @app.page("/admin/model")
    class SwapModel(View):
        async def post(self, request: Request) -> Response:
            if (refused := denied(self, request, "model")) is not None:
                return refused
            try:
                body = await request.json()
                path = body["path"]
                if not isinstance(path, str) or not path:
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return answer(self, "model", {"error": 'expected JSON {"path": "..."}'}, 400)
            try:
                running = await pulse.sentiment.swap(path)
            except ModelError as exc:
                log.warning("model swap to %s rejected: %s", path, exc)
                kept = pulse.sentiment.version
                return answer(self, "model", {"error": str(exc), "running": kept}, 400)
            return answer(self, "model", running, 200)

    @app.page("/rules")
    class Rules(View):
        async def get(self, request: Request) -> Response:
            return self.json(pulse.rules.describe())

    @app.page("/admin/rules/reload")
    class ReloadRules(View):
        async def post(self, request: Request) -> Response:
            if (refused := denied(self, request, "rules_reload")) is not None:
                return refused
            result = pulse.rules.reload()
            body = {
                "ok": result.ok,
                "rules": result.rules,
                "message": result.message,
                "errors": [str(e) for e in result.errors],
            }
            return answer(self, "rules_reload", body, 200 if result.ok else 400)

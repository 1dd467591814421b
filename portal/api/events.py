"""`POST /api/v1/events/<event_id>/confirmation`: a system confirms that it carried out an event it accepted (202).

The call-back is signed by the system per Standard Webhooks with the secret its events are signed with
(docs/webhooks.md); the service verifies it. No session cookie, so no CSRF token: the signature is the
proof of origin. Answers carry no body worth reading but the reason of a refusal.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from portal import state
from portal.database import request_session
from portal.extensions import csrf
from portal.services import audit
from portal.services.webhooks import CallbackRefused, confirm_callback

blueprint = Blueprint("api_events", __name__, url_prefix="/api/v1/events")
csrf.exempt(blueprint)

STATUS = {"not_found": 404, "bad_signature": 401, "wrong_event": 400}


@blueprint.post("/<event_id>/confirmation")
def confirmation(event_id: str) -> Response | tuple[Response, int]:
    try:
        confirm_callback(request_session(), state.context(audit.SYSTEM), state.webhooks(), event_id,
                         request.get_data(cache=False), dict(request.headers))
    except CallbackRefused as refused:
        return jsonify(error=refused.reason), STATUS[refused.reason]
    state.mail().wake()  # the last system's confirmation completes the request, which tells its person
    return Response(status=204)

"""JSON error responses in the one shape every endpoint uses."""

from django.http import JsonResponse


def json_error(
    status: int, message: str, fields: dict[str, str] | None = None, **headers
) -> JsonResponse:
    """`{"error": "<one sentence>", "fields": {name: problem}}` with the given status."""
    response = JsonResponse({"error": message, "fields": fields or {}}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response

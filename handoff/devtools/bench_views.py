"""A bare async view for `make bench`: the same server and middleware, no database.

Mounted only when HANDOFF_BENCH_VIEWS is true, never in a normal deployment.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
async def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "accepted"})

"""A bare async view for `make bench`: the same server and middleware, no database.

Mounted only by the bench URLconf (bench_urls.py), which only `make bench` loads.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
async def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "accepted"})

"""Other people's middleware whose hooks do no I/O, run on the event loop instead of
hopping to a worker thread for every request.

Under daphne Django runs the middleware chain asynchronously, and a middleware built
on `MiddlewareMixin` (django-csp's, most of Django's own) then calls each of its
`process_request` and `process_response` through `sync_to_async(thread_sensitive=True)`:
a round trip to the one shared worker thread and back, each costing about as much CPU
as django-csp's two hooks together, and queued behind whatever else holds that thread.
The classes here are those middleware unchanged, their own hooks reading their own
settings, except that on the async path the hooks are called directly on the loop.
Their sync path (the test client, management commands) is `MiddlewareMixin`'s.

It must never hold a middleware whose hooks touch the database, the session store, the
cache or the network, or may otherwise block: on the loop that would stall every
request and socket of the process. settings.MIDDLEWARE marks the ones that stay
threaded, and why.
"""

from csp.middleware import CSPMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class OnTheLoop:
    """Mix in before a `MiddlewareMixin` middleware whose `process_request` and
    `process_response` do no I/O: the async path calls them on the loop.

    The same steps as `MiddlewareMixin.__acall__`, without its `sync_to_async`."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class ContentSecurityPolicyMiddleware(OnTheLoop, CSPMiddleware):
    """django-csp's middleware. `process_request` puts a lazy nonce on the request
    (`os.urandom`, only if a template asks for it); `process_response` builds the
    header from settings, the nonce and the view's `csp_*` decorators: string work."""

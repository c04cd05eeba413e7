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
cache, the request body or the network, or may otherwise block: on the loop that would
stall every request and socket of the process. settings.MIDDLEWARE marks the ones that
stay threaded, and why.
"""

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.common import CommonMiddleware
from django.middleware.locale import LocaleMiddleware


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


class LocaleOnTheLoopMiddleware(OnTheLoop, LocaleMiddleware):
    """Django's LocaleMiddleware: the language from the cookie or Accept-Language,
    activated in the request's own context. That context is per request (asgiref's
    Local, a context variable) and sync_to_async carries it into the threads a view
    hands work to, exactly as it carried it back after a hop. A language's catalogues
    are read from disk the first time the process activates it, once, then cached."""


class CommonOnTheLoopMiddleware(OnTheLoop, CommonMiddleware):
    """Django's CommonMiddleware: the user-agent and host checks, the slash redirect
    (a URL resolve, which the handler itself does on the loop) and Content-Length."""


class AuthenticationOnTheLoopMiddleware(OnTheLoop, AuthenticationMiddleware):
    """Django's AuthenticationMiddleware: it only puts a lazy `request.user` and
    `request.auser` on the request. The user is read from the database later, by
    whoever asks for it, in a thread or with `await request.auser()`, as before."""

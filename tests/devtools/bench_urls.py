"""The app's URLs plus the bare view that `make bench` compares the webhook with.

Loaded only through bench_settings.py, so no deployment can mount the bench view.
"""

from django.urls import path

from handoff.urls import urlpatterns as app_urlpatterns
from tests.devtools import bench_views

urlpatterns = [*app_urlpatterns, path("bench/bare/", bench_views.bare)]

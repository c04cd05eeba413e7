from django.urls import path  # noqa: F401 - filled in by the API views

app_name = "api"
urlpatterns: list = []

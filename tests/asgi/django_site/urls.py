"""URL patterns of the minimal Django site."""

from django.urls import path

from tests.asgi.django_site import views

urlpatterns = [
    path("", views.page),
    path("articles/<slug:slug>/", views.page),
    path("api/ping", views.ping),
]

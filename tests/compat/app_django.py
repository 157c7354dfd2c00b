"""The compat endpoints in a minimal Django project configured in code.

Django's ASGI handler serves only ``http`` scopes: it raises on ``lifespan`` and ``websocket``
(WebSockets need Channels, which is not a dependency), and the test checks that the recorder
keeps those refusals as exceptions.
"""

from __future__ import annotations

import json

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tests.compat import greeting, inspected

settings.configure(
    DEBUG=False,
    SECRET_KEY="asgi-inspect-compat",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()


@require_GET
def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(greeting(request.GET["name"]), content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def echo_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(json.loads(request.body))


urlpatterns = [path("hello", hello), path("echo", echo_json)]

app = inspected(get_asgi_application())

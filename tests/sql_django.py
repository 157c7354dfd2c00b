"""Django's ORM on sqlite under ``Inspector(capture_calls=True)``, in a process of its own
(Django's settings are global: other tests configure Django their own way).

``python -m tests.sql_django TRACE [--redact]`` configures Django in code, creates the
``Book`` table, serves the app with uvicorn on 127.0.0.1, makes the requests below with
httpx, and writes the recorded exchanges to TRACE (JSONL) as it exits. The test reads it.

- ``GET /books``: an async view; three books saved (one ``bulk_create``), then listed;
- ``GET /title/<id>``: a sync view (Django runs it in a thread): one book's title by id;
- ``GET /broken``: a raw statement that fails, the error caught by the view.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="asgi-inspect-sql",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": str(Path(tempfile.mkdtemp()) / "books.sqlite3")}},
)
django.setup()

import httpx  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.db import DatabaseError, connection, models  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

from asgi_inspect import Inspector, JsonlSink  # noqa: E402
from tests.servers import uvicorn_server  # noqa: E402


class Book(models.Model):
    title = models.CharField(max_length=100)

    class Meta:
        app_label = "shelf"


async def books(request: HttpRequest) -> JsonResponse:
    await Book.objects.abulk_create([Book(title="Dune"), Book(title="Emma")])  # <- bulk
    await Book.objects.acreate(title="Ulysses")
    titles = [book.title async for book in Book.objects.order_by("id")]  # <- list
    return JsonResponse({"titles": titles})


def title(request: HttpRequest, book_id: int) -> HttpResponse:
    return HttpResponse(Book.objects.get(id=book_id).title)  # <- get


def broken(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nothing FROM nowhere")  # <- broken
    except DatabaseError as exc:
        return HttpResponse(f"failed: {exc}")
    return HttpResponse("ran")


urlpatterns = [path("books", books), path("title/<int:book_id>", title),
               path("broken", broken)]


def main(trace: str, redact: bool) -> None:
    with connection.schema_editor() as editor:  # before any request: not recorded
        editor.create_model(Book)
    connection.close()
    app = Inspector(get_asgi_application(), JsonlSink(trace), capture_calls=True,
                    redact=redact)
    with uvicorn_server(app, lifespan="off") as url:
        for target in ("/books", "/title/2", "/broken"):
            httpx.get(url + target, timeout=30).raise_for_status()
    app.close()


if __name__ == "__main__":
    main(sys.argv[1], "--redact" in sys.argv[2:])


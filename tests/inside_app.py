"""A FastAPI app as its users write one: SQLAlchemy on sqlite for its data, httpx for an
upstream service (``INSIDE_UPSTREAM``), one endpoint with an N+1. Served by ``asgi-inspect
run`` in tests/test_inside_e2e.py, which checks what the inspector shows inside each request."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

UPSTREAM = os.environ.get("INSIDE_UPSTREAM", "http://127.0.0.1:9")
DATABASE = Path(os.environ.get("INSIDE_DATABASE") or tempfile.mkstemp(suffix=".db")[1])


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))


engine = create_engine(f"sqlite:///{DATABASE}")
Base.metadata.create_all(engine)
with Session(engine) as setup, setup.begin():
    if setup.scalar(select(Author).limit(1)) is None:
        for n in range(6):
            author = Author(name=f"author {n}")
            setup.add(author)
            setup.flush()
            setup.add(Book(title=f"book {n}", author_id=author.id))

app = FastAPI()


@app.get("/authors")
def authors() -> list[dict[str, object]]:
    """One query for the authors, then one per author for their books: an N+1."""
    with Session(engine) as session:
        result = []
        for author in session.scalars(select(Author).order_by(Author.id)):
            titles = session.scalars(select(Book.title).where(Book.author_id == author.id))
            result.append({"name": author.name, "books": list(titles)})
        return result


@app.get("/weather/{city}")
async def weather(city: str) -> dict[str, object]:
    """One outbound call, and what it answered."""
    async with httpx.AsyncClient(base_url=UPSTREAM) as client:
        answer = await client.get("/forecast", params={"city": city})
    return {"city": city, "upstream": answer.json(), "status": answer.status_code}

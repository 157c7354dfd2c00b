"""The compat endpoints in willpyre, which has no WebSocket support."""

from __future__ import annotations

import json

from willpyre import App, JSONResponse, Router, TextResponse
from willpyre.structure import Request, Response

from tests.compat import greeting, inspected

router = Router()


@router.get("/hello")
async def hello(request: Request, response: Response) -> TextResponse:
    return TextResponse(greeting(request.query.get("name")))


@router.post("/echo")
async def echo_json(request: Request, response: Response) -> JSONResponse:
    return JSONResponse(json.loads(request.raw_body))  # .body keeps only a list's first item


app = inspected(App(router))

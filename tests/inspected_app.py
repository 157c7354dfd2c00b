"""An app wrapped the way the README shows, for a server that asgi-inspect does not start."""

from asgi_inspect import Inspector
from tests.replay_apps import app as plain_app

app = Inspector(plain_app)  # records to $ASGI_INSPECT when set

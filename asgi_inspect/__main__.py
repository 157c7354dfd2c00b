import sys

from asgi_inspect.cli import main

sys.exit(main())

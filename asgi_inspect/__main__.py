import sys

from asgi_inspect.cli.main import main

sys.exit(main())

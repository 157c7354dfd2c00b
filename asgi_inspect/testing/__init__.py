"""Recording the ASGI apps a test suite drives: the machinery behind the pytest plugin.

:mod:`asgi_inspect.pytest_plugin` is what pytest loads (in every run, so it imports nothing of
this package until a test is recorded); :mod:`.recorder` hooks the transports and keeps the
current test's exchanges; :mod:`.report` turns them into a failing test's report section and
trace file.
"""

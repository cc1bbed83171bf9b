"""Repository-wide pytest setup: the platform plugin (``devtools/pytest_platform.py``), registered once for every
test directory: its session fixtures and the guard that keeps the ``integration`` marker honest (a test not
marked ``integration`` that uses a server fixture, starts a server process or listens on a port fails)."""

pytest_plugins = ["devtools.pytest_platform"]

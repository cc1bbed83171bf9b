"""Repository-wide pytest setup: the platform's session fixtures, registered once for every test directory."""

pytest_plugins = ["devtools.pytest_platform"]

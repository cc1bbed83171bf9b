"""The CLI's tests: the command run in-process (``main``) and as the installed console script."""

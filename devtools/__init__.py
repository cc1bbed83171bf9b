"""Developer tools for modelship: start real servers locally (``devtools.procs``, ``devtools.servers``),
the laptop demo (``python -m devtools.demo``) and the benchmark (``python -m devtools.bench``).

Run from the repository root with the workspace venv: ``source scripts/env.sh && .venv/bin/python -m devtools.demo``.
"""

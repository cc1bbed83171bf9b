# Sourced by the Makefile and scripts: where modelship keeps its tools and caches.
export MODELSHIP_CACHE="${MODELSHIP_CACHE:-$HOME/.cache/modelship}"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$MODELSHIP_CACHE/uv}"
export UV_PYTHON_DOWNLOADS=never
export UV_PYTHON="${UV_PYTHON:-python3.11}"
export UV_LINK_MODE=copy
export PATH="$MODELSHIP_CACHE/bin:$PATH"
export UV_COMPILE_BYTECODE=1

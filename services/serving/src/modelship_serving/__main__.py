"""``python -m modelship_serving --model-uri models:/penguins/3``: parse, build settings, serve."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    from modelship_serving.fastimport import preload_kserve

    preload_kserve()
    from modelship_serving.server import run

    run(argv)


if __name__ == "__main__":
    main()

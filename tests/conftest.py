"""Options shared by the whole test suite (pytest reads them only from here or above)."""

from __future__ import annotations

import pytest

#: The short soak in the test command: about a minute of this machine's time.
DEFAULT_SOAK_FRAMES = 300_000


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-frames",
        type=int,
        default=DEFAULT_SOAK_FRAMES,
        help=f"frames for tests/test_soak.py (default {DEFAULT_SOAK_FRAMES}; "
        "make soak runs 864000, a day at 10 fps)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The full day-long soak outlasts the suite's per-test timeout: give it room.
    frames = int(config.getoption("--soak-frames"))
    for item in items:
        if item.name == "test_soak":
            item.add_marker(pytest.mark.timeout(max(900, frames // 200)))

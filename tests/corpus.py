"""Where the shared capture corpus lives: ../shared/corpus next to the repository."""

import os
from pathlib import Path

import pytest


def corpus_dir():
    """Path of ../shared/corpus (relative to the repository root).

    Skips the calling test when it is missing, except under CI=true, where a
    missing corpus fails the test instead of hiding it.
    """
    path = (Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus").resolve()
    if not path.is_dir():
        message = f"../shared/corpus not found: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


"""The generated encrypted-mining folder (tests/gen/tls_mining.py), built once per session."""

import pytest

from tests.gen.tls_mining import write_corpus


@pytest.fixture(scope="session")
def tls_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls_corpus")
    truths = write_corpus(folder)
    return folder, truths

"""Shared fixtures: the real data in ../shared/data, and a private cache per test session."""

import os

import pytest
from datasets import PNEUMONIAMNIST


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Downloads and decoded folders go to a temporary cache, never the user's."""
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("IMBALANCE_SEARCH_CACHE")
    os.environ["IMBALANCE_SEARCH_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("IMBALANCE_SEARCH_CACHE", None)
    else:
        os.environ["IMBALANCE_SEARCH_CACHE"] = old


@pytest.fixture(scope="session")
def pneumoniamnist():
    from trainable.data import load_data

    return load_data(str(PNEUMONIAMNIST))

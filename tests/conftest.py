"""Shared fixtures: the real data in ../shared/data, and a private cache per test session.

Three tiers: `-m "not slow and not integration"` is the unit tier (synthetic or hand-made
inputs, no Ray, no other process, no ../shared: seconds); `-m "not slow"` adds the integration
tests; plain `python -m pytest` runs everything, as CI does. Where the real data is absent the
integration and slow tests are skipped with the reason, not failed.
"""

import os

import pytest
from datasets import CHEST_XRAY, DATA_DIR, PNEUMONIAMNIST


def pytest_collection_modifyitems(config, items):
    if PNEUMONIAMNIST.is_file() and CHEST_XRAY.is_dir():
        return
    skip = pytest.mark.skip(
        reason=f"the real data is not at {DATA_DIR}: set IMBALANCE_DATA_DIR to the folder "
        "holding pneumoniamnist/ and chest_xray/"
    )
    for item in items:
        if "integration" in item.keywords or "slow" in item.keywords:
            item.add_marker(skip)


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

"""Shared fixtures: a key, the benchmark data folder for integration tests, and a temporary
compilation cache for the scripts the tests run."""

from __future__ import annotations

import os

import jax
import pytest

from zcjax import data


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    """Scripts run by the tests keep their compiled kernels in a temporary folder, not in the
    user's ~/.cache/zcjax/xla (``zcjax.cache``)."""
    old = os.environ.get("ZCJAX_CACHE")
    os.environ["ZCJAX_CACHE"] = str(tmp_path_factory.mktemp("xla_cache"))
    yield
    if old is None:
        del os.environ["ZCJAX_CACHE"]
    else:
        os.environ["ZCJAX_CACHE"] = old


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(scope="session")
def data_dir():
    """The real data folder (../shared/data on our machines and in CI).

    Integration tests skip without it, except under CI, where a missing folder is a failure.
    """
    found = data.find_data_dir()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the benchmark data: {data.no_data_hint()}")
        pytest.skip(f"no benchmark data folder: {data.no_data_hint()}")
    return found


@pytest.fixture(scope="session")
def nb201_table(data_dir):
    return data.load_nb201_table(data_dir)

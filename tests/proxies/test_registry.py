"""Every registered proxy, run end to end: adding an entry to ``PROXIES`` tests it."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax.proxies import PROXIES, get_proxies, split_names
from zcjax.recipe import score_archs
from zcjax.settings import Settings
from zcjax.spaces import SPACES

# Convs, a skip and a pool: every proxy has something to measure.
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SETTINGS = Settings(batch_size=4, inputs="noise", resolution=8)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROXIES))
def test_every_proxy_gives_a_finite_score_on_a_tiny_nb201_network(name):
    space = SPACES["nb201"]
    arch = space.parse(ARCH)
    means, stds = score_archs(
        jax.random.key(0), space, [arch], [PROXIES[name]], "cifar10", SETTINGS
    )
    assert means[name].shape == stds[name].shape == (1,)
    assert np.isfinite(means[name][0]), f"{name} scored {means[name][0]}"
    assert isinstance(float(means[name][0]), float)


def test_split_names_keeps_program_commas():
    text = "eznas_a, ensemble2(net_mean(frobenius_norm(relu_in@data)), log_params),flops"
    assert split_names(text) == [
        "eznas_a",
        "ensemble2(net_mean(frobenius_norm(relu_in@data)), log_params)",
        "flops",
    ]
    assert [p.name for p in get_proxies("params,net_add(log_params, log_flops)")] == [
        "params",
        "net_add(log_params, log_flops)",
    ]
    for bad in ("a,f(b", "a),b"):
        with pytest.raises(ValueError, match="Unbalanced brackets"):
            split_names(bad)

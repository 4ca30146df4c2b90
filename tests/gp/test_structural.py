"""Structural programs: scores unchanged by the init and by data versus noise."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax.gp import structural
from zcjax.program import PROGRAMS, parse
from zcjax.settings import Settings
from zcjax.spaces import get_space

PROGRAMS_CHECKED = {
    "numel(weight)": False,  # a size: structural
    "mean(ones_like(relu_in@data))": False,  # a constant: structural
    "frobenius_norm(weight)": True,  # changes with the init only
    PROGRAMS["eznas_a"].text: True,
    "invert(zeros_like(relu_in@data))": True,  # no finite score: not shown to be structural
    "net_abslog(net_sum(mean(numel(bn_out@data))))": False,  # network language, sizes only
    f"ensemble2(net_mean({PROGRAMS['eznas_a'].text}), log_params)": True,  # by its member
    "ensemble2(log_params, log_flops)": False,
    "az_expressivity@noise": True,  # a measured terminal changes with the init
    "ensemble2(az_trainability@noise, log_params)": True,  # by its measured member
}
SETTINGS = Settings(batch_size=2, normalization="eznas")


def test_scores_change_is_relative_and_nan_safe():
    nan, inf = np.nan, np.inf
    a = np.array([[1.0, 2.0], [1e6, 0.0], [nan, inf], [nan, 1.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[1.0, 2.0], [1e6 + 0.5, 0.0], [nan, inf], [1.0, 1.0], [1.0, 1.0 + 1e-5], [0, 0]])
    assert structural.scores_change(a, b).tolist() == [False, False, False, True, True, False]
    assert structural.scores_change(b, a).tolist() == structural.scores_change(a, b).tolist()


@pytest.fixture(scope="module")
def checked(data_dir):
    space = get_space("nb201")
    archs = [space.enumerate()[100]]  # a cell with convolutions: gradients are not all zero
    programs = [parse(text) for text in PROGRAMS_CHECKED]
    args = (programs, space, archs, "cifar10", SETTINGS)
    return args, structural.check_scores(jax.random.key(1), *args)


def test_each_run_changes_one_thing(checked):
    _, scores = checked
    assert scores.shape == (3, len(PROGRAMS_CHECKED), 1)
    weight_norm, eznas_a = scores[:, 2, 0], scores[:, 3, 0]
    assert weight_norm[0] == weight_norm[2] != weight_norm[1]  # data -> noise keeps the weights
    assert eznas_a[0] != eznas_a[2] and eznas_a[0] != eznas_a[1]
    numel = scores[:, 0, 0]
    assert numel[0] == numel[1] == numel[2] > 0 and numel[0] == np.round(numel[0])


def test_known_programs_are_structural_or_not(checked):
    args, _ = checked
    dependent = structural.data_dependence(jax.random.key(1), *args)
    assert dependent.tolist() == list(PROGRAMS_CHECKED.values())
    assert structural.is_structural(jax.random.key(1), *args).tolist() == (~dependent).tolist()

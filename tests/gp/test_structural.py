"""Structural programs: scores unchanged by the init and by data versus noise."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax.gp import structural
from zcjax.program import PROGRAMS, parse
from zcjax.settings import Settings
from zcjax.spaces import get_space

# program: (data-dependent, reads its inputs), ``dependences``'s two answers
PROGRAMS_CHECKED = {
    "numel(weight)": (False, False),  # a size: structural
    "mean(ones_like(relu_in@data))": (False, False),  # a constant: structural
    "frobenius_norm(weight)": (True, False),  # changes with the init only
    PROGRAMS["eznas_a"].text: (True, True),
    "invert(zeros_like(relu_in@data))": (True, True),  # no finite score: not shown structural
    "net_abslog(net_sum(mean(numel(bn_out@data))))": (False, False),  # network language, sizes
    f"ensemble2(net_mean({PROGRAMS['eznas_a'].text}), log_params)": (True, True),  # its member
    "ensemble2(log_params, log_flops)": (False, False),
    "net_add(net_min(weight), log_params)": (True, False),  # a size plus the init alone
    "frobenius_norm(conv_in@noise)": (True, True),  # the statistics' own noise input
    "az_expressivity@noise": (True, True),  # a measured terminal, on that noise input
    "ensemble2(az_trainability@noise, log_params)": (True, True),  # by its measured member
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
    assert weight_norm[0] == weight_norm[2] != weight_norm[1]  # run 2 keeps run 0's weights
    own_noise = scores[:, list(PROGRAMS_CHECKED).index("frobenius_norm(conv_in@noise)"), 0]
    assert len(set(own_noise.tolist())) == 3  # another init, another own-noise draw
    assert eznas_a[0] != eznas_a[2] and eznas_a[0] != eznas_a[1]
    numel = scores[:, 0, 0]
    assert numel[0] == numel[1] == numel[2] > 0 and numel[0] == np.round(numel[0])


def test_known_programs_are_structural_or_not(checked):
    args, _ = checked
    dependent = structural.data_dependence(jax.random.key(1), *args)
    assert dependent.tolist() == [d for d, _ in PROGRAMS_CHECKED.values()]
    assert structural.is_structural(jax.random.key(1), *args).tolist() == (~dependent).tolist()


def test_only_programs_that_read_their_inputs_pass_the_inputs_check(checked):
    args, _ = checked
    both = structural.dependences(jax.random.key(1), *args)
    assert both["inputs"].tolist() == [i for _, i in PROGRAMS_CHECKED.values()]
    assert (both["inputs"] <= both["init_or_inputs"]).all()  # stricter, never looser
    on_inputs = structural.data_dependence(jax.random.key(1), *args, on="inputs")
    assert on_inputs.tolist() == both["inputs"].tolist()
    with pytest.raises(ValueError, match="Unknown dependence 'init'"):
        structural.data_dependence(jax.random.key(1), *args, on="init")

"""VKDNW at its paper's settings (noise, batch 64, kaiming_norm_fanin, seed 0) on CIFAR-10, for
the gap studies of this folder (``vkdnw_all_tensors.py``, ``vkdnw_float32.py``)."""

import zcjax


def score_vkdnw(archs):
    """``zcjax.score`` of ``vkdnw`` on ``archs`` as results/sota/run.sh scores it."""
    return zcjax.score(
        "nb201",
        ["vkdnw"],
        archs=archs,
        dataset="cifar10",
        inputs="noise",
        batch_size=64,
        weight_init="kaiming_fan_in",
        seed=0,
    )

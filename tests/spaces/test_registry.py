"""Every registered search space builds its first architecture: adding an entry to ``SPACES``
tests it."""

from __future__ import annotations

import pytest

from zcjax import data
from zcjax.data import DataNotFoundError
from zcjax.spaces import SPACES, nds


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_space_plans_and_costs_its_first_arch(name, data_dir):
    space = SPACES[name]
    if space.enumerate is not None:
        arch = space.enumerate()[0]
    else:
        try:
            arch = space.load_benchmark(data_dir).archs[0]
        except DataNotFoundError as e:
            # A sweep nobody can redistribute (NDS's CIFAR-10 files): the error names the file,
            # and the space still builds a network of its family from a held record's config.
            stem = nds.SPACE_FILES[name]
            assert f"nds/{stem}.jsonl" in str(e), e
            anynet = stem.split("_")[0] in (
                "ResNet",
                "ResNeXt-A",
                "ResNeXt-B",
                "ResNet-B",
                "Vanilla",
            )
            donor = SPACES["nds_resnet_reruns" if anynet else "nds_darts_in"]  # CIFAR stem / cells
            arch = space.parse(donor.to_string(donor.load_benchmark(data_dir).archs[0]))
    dataset = space.datasets[0]
    text = space.to_string(arch)
    assert space.to_string(space.parse(text)) == text
    assert space.input_size(dataset) == data.INPUT_SIZE[dataset]
    plan = space.plan(arch, dataset)
    assert plan.units and plan.input_shape[:2] == (data.INPUT_SIZE[dataset],) * 2
    costs = space.costs(arch, dataset)
    assert costs.params > 0 and costs.flops > 0

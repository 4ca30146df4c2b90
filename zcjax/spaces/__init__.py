"""Search spaces: each one's architectures, networks, costs and benchmark, in ``SPACES``."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Sequence

import flax.linen as nn

from zcjax import netplan
from zcjax.spaces import nb201, nds
from zcjax.spaces.benchmark import Benchmark
from zcjax.spaces.costs import Costs


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The functions that make up a search space. Architectures are hashable values.

    Attributes:
      name: registry key, e.g. ``"nb201"``.
      datasets: datasets with networks and ground truth in this space.
      default_target: dataset -> the benchmark column proxies are judged against by default.
      enumerate: all architectures (None where the space is only known through its benchmark).
      parse: text (e.g. an official arch string) -> arch; raises ValueError on bad input.
      to_string: arch -> its official text form.
      arch_id: arch -> a stable int for deriving per-arch keys.
      network: (arch, dataset, **kwargs) -> Flax module mapping [B, H, W, 3] to logits.
      plan: (arch, dataset) -> the same network as a ``netplan.Plan`` for ``zcjax.engine``.
      costs: (arch, dataset) -> Costs(params, flops).
      load_benchmark: data_dir -> Benchmark; raises DataNotFoundError when files are missing.
      input_size: dataset -> input height and width.
    """

    name: str
    datasets: tuple[str, ...]
    default_target: Callable[[str], str]
    enumerate: Callable[[], Sequence[Hashable]] | None
    parse: Callable[[str], Hashable]
    to_string: Callable[[Hashable], str]
    arch_id: Callable[[Hashable], int]
    network: Callable[..., nn.Module]
    plan: Callable[..., netplan.Plan]
    costs: Callable[[Hashable, str], Costs]
    load_benchmark: Callable[..., Benchmark]
    input_size: Callable[[str], int]


NB201 = SearchSpace(
    name="nb201",
    datasets=tuple(nb201.NUM_CLASSES),
    default_target=lambda dataset: f"{dataset}_valid",
    enumerate=nb201.enumerate_archs,
    parse=nb201.parse_arch,
    to_string=nb201.arch_to_string,
    arch_id=nb201.arch_id,
    network=nb201.network,
    plan=nb201.plan,
    costs=nb201.costs,
    load_benchmark=nb201.load_benchmark,
    input_size=nb201.INPUT_SIZE.__getitem__,
)


def _nds_space(name: str, stem: str) -> SearchSpace:
    """The NDS sweep file ``stem`` as a space (``spaces.nds``): its records are its archs."""
    dataset = nds.FILES[stem]
    return SearchSpace(
        name=name,
        datasets=(dataset,),
        default_target=lambda dataset: "acc",
        enumerate=None,
        parse=nds.parse_model,
        to_string=lambda model: model.net,
        arch_id=nds.model_id,
        network=nds.network,
        plan=nds.plan,
        costs=nds.costs,
        load_benchmark=functools.partial(nds.load_benchmark, stem),
        input_size=nds.INPUT_SIZE.__getitem__,
    )


SPACES = {"nb201": NB201} | {name: _nds_space(name, stem) for name, stem in nds.SPACE_FILES.items()}


def get_space(name: str) -> SearchSpace:
    if name not in SPACES:
        raise ValueError(f"Unknown search space {name!r}; expected one of {sorted(SPACES)}.")
    return SPACES[name]


__all__ = ["SPACES", "Benchmark", "Costs", "SearchSpace", "get_space"]

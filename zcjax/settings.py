"""How networks are run to be scored: ``Settings``, shared by scoring, the search and the
benchmark (one definition, one set of defaults; ``experiments/cli.py`` makes its flags)."""

from __future__ import annotations

import dataclasses

import jax

NOT_RECORDED = ("data_dir", "arch_batch")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How networks are run for data-dependent proxies.

    Attributes:
      num_inits: K random initialisations per architecture; scores are their mean and std.
      batch_size: images per batch (one batch per architecture, shared by its K inits).
      inputs: ``"data"`` (real images) or ``"noise"`` (standard normal of the same shape).
      augment: random crop (padding 4) and flip of the images, as EZNAS draws its batches.
      normalization: ``"official"`` (the benchmark's training pipeline) or ``"eznas"``.
      weight_init: an init scheme of ``zcjax.nn.INITS``.
      vmap_inits: run the K inits as one vmapped batch (True) or a loop (False); None picks
        vmap on accelerators and the loop on CPU, where it is faster. Both give the same numbers.
      resolution: input height and width (None: the dataset's, 224 for ImageNet). Networks
        end in global average pooling, so any size runs; costs stay at the official size.
      stats_method: ``"engine"`` (kernels shared by all architectures: no per-architecture
        compilation) or ``"module"`` (one jit of the whole Flax network per architecture:
        ~20% faster per pass once compiled, but 1.5-6 s to compile each new architecture on a
        CPU, so it only pays for an architecture scored dozens of times), or ``"batched"``
        (``arch_batch`` architectures at a time, their ops grouped across them into one call
        per kernel: ``zcjax.engine.batched``, meant for accelerators; on a 2-core CPU it is
        no faster than the engine). The module path loops over inits.
      arch_batch: architectures run together with ``stats_method="batched"`` (scores do not
        depend on it).
      data_dir: the data folder (None: ``$ZCJAX_DATA``, ./data, ../shared/data, else the
        embedded default; "embedded" picks that); where the data lives is not a setting of
        the numbers, so scores CSVs and checkpoints omit it (``recorded``), as ``arch_batch``.
    """

    num_inits: int = 1
    batch_size: int = 64
    inputs: str = "data"
    augment: bool = True
    normalization: str = "official"
    weight_init: str = "eznas"
    vmap_inits: bool | None = None
    stats_method: str = "engine"
    arch_batch: int = 8
    data_dir: str | None = None
    resolution: int | None = None

    def __post_init__(self):
        for name in ("num_inits", "batch_size", "arch_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.resolution is not None and (
            isinstance(self.resolution, bool)
            or not isinstance(self.resolution, int)
            or not 8 <= self.resolution <= 1024
        ):
            raise ValueError(f"resolution must be an integer in 8..1024, got {self.resolution!r}.")
        choices = {
            "inputs": ("data", "noise"),
            "normalization": ("official", "eznas"),
            "stats_method": ("engine", "module", "batched"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")

    def recorded(self) -> dict:
        """The settings that make the numbers, as scores CSVs and checkpoints record them:
        all but where the data lives and how many architectures run together."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in NOT_RECORDED}

    def use_vmap(self) -> bool:
        if self.stats_method == "module":
            return False
        if self.vmap_inits is None:
            return jax.default_backend() != "cpu"
        return self.vmap_inits

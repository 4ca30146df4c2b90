"""Where a search stands (``SearchState``) and its generation 0."""

from __future__ import annotations

import dataclasses

import jax

from zcjax.gp.config import SearchConfig
from zcjax.gp.keys import Keys
from zcjax.program import Program, parse


@dataclasses.dataclass(frozen=True)
class SearchState:
    """Where a search stands after ``generation`` completed generations.

    ``archive`` maps a program's text to its ``[generation, fitness]`` evaluations (the
    fitness cache; with promotion, a promoted program's fitness is on the larger sample);
    ``history`` holds one record per generation; ``validation`` maps the text of each
    generation's best to its fitness on the fixed validation sample (each scored once).
    """

    generation: int
    population: tuple[Program, ...]
    archive: dict[str, list[list]]
    history: tuple[dict, ...]
    validation: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "generation": self.generation,
            "population": [str(p) for p in self.population],
            "archive": self.archive,
            "history": list(self.history),
            "validation": self.validation,
        }

    @classmethod
    def from_json(cls, d: dict) -> SearchState:
        if not isinstance(d["history"], list) or not all(isinstance(r, dict) for r in d["history"]):
            raise TypeError("history is not a list of generation records")
        return cls(
            generation=int(d["generation"]),
            population=tuple(parse(t) for t in d["population"]),
            archive={k: [list(e) for e in v] for k, v in d["archive"].items()},
            history=tuple(d["history"]),
            validation={k: float(v) for k, v in d.get("validation", {}).items()},
        )


def initial_state(config: SearchConfig) -> SearchState:
    """Generation 0: ``config.seed_programs``, then random programs (``gen_half_and_half``)
    up to ``population``, not yet scored. Without seed programs the random ones are as before."""
    keys = jax.random.split(Keys.of(config.seed).population, config.population)
    seeded = tuple(parse(t) for t in config.seed_programs)
    population = seeded + tuple(config.random_program(k) for k in keys[len(seeded) :])
    return SearchState(0, population, {}, ())

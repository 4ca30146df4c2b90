"""Programs: immutable, hashable expression trees over the statistics terminals.

A program is stored as DEAP stores trees: a prefix-order tuple of node names, e.g.
``("frobenius_norm", "sigmoid", "logdet", "sign", "relu_in_grad@data")``. Its text form is
``frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))``; ``parse`` reads it with its own
tokenizer (never ``eval``) and ``parse(str(p)) == p``. EZNAS's ``ARG0``..``ARG21`` are accepted
as aliases of our terminal names. Errors name the problem and point at the token.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from zcjax.program.kinds import DESCRIPTIONS
from zcjax.program.primitives import PRIMITIVES
from zcjax.program.terminals import EZNAS_ARGS, MEASURED_TERMINALS, TERMINAL_KINDS, TERMINALS


class ProgramError(ValueError):
    """A program that does not parse or does not type-check."""


def _error(text: str, pos: int, message: str) -> ProgramError:
    return ProgramError(f"{message}\n  {text}\n  {' ' * pos}^")


@dataclasses.dataclass(frozen=True)
class Program:
    """A typed expression tree in prefix order; build with ``parse`` or ``Program.of``."""

    nodes: tuple[str, ...]

    @classmethod
    def of(cls, nodes) -> Program:
        """A program from prefix-order node names, checked for arity and kinds."""
        program = cls(tuple(nodes))
        program.kinds  # noqa: B018 - validates
        return program

    def __str__(self) -> str:
        return _to_text(self.nodes)

    def __repr__(self) -> str:
        return f"Program({str(self)!r})"

    def __len__(self) -> int:
        return len(self.nodes)

    @functools.cached_property
    def kinds(self) -> tuple[str, ...]:
        """The kind of every node's value, in prefix order."""
        return _node_kinds(self.nodes)

    @property
    def kind(self) -> str:
        return self.kinds[0]

    @functools.cached_property
    def terminals(self) -> tuple[str, ...]:
        """The terminals the program reads, in ``terminals.TERMINALS`` order."""
        used = set(self.nodes)
        return tuple(t for t in TERMINALS if t in used)

    @functools.cached_property
    def measured(self) -> tuple[str, ...]:
        """The measured network terminals the program reads (``netops.MEASURED_TERMINALS``)."""
        used = set(self.nodes)
        return tuple(t for t in MEASURED_TERMINALS if t in used)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every statistic the program reads: its unit terminals, then its measured ones."""
        return self.terminals + self.measured

    @functools.cached_property
    def height(self) -> int:
        """Depth of the deepest node (a lone terminal has height 0), as DEAP counts it."""
        return max(self.depths)

    @functools.cached_property
    def depths(self) -> tuple[int, ...]:
        depths, stack = [], [0]
        for name in self.nodes:
            depth = stack.pop()
            depths.append(depth)
            stack.extend([depth + 1] * arity(name))
        return tuple(depths)

    def subtree_end(self, start: int) -> int:
        """Index one past the subtree rooted at node ``start`` (DEAP's ``searchSubtree``)."""
        need, end = 1, start
        while need:
            need += arity(self.nodes[end]) - 1
            end += 1
        return end


def arity(name: str) -> int:
    return PRIMITIVES[name].arity if name in PRIMITIVES else 0


def fold(nodes: tuple[str, ...], leaf, apply):
    """The value of the prefix tree rooted at ``nodes[0]``, computed bottom-up.

    Args:
      leaf: ``leaf(i)`` -> ``(value, end)`` where the subtree at node i is taken whole (a
        terminal, a memo hit, an opaque reducer), ``end`` one past it; None to descend into
        node i's arguments.
      apply: ``apply(i, args)`` -> node i's value from its arguments' values (a list).
    Returns:
      ``(value, end)``, ``end`` one past the subtree.

    One walker for every tree walk, with an explicit stack: a recursive closure would be a
    reference cycle, keeping whatever it reads (terminals, memos, unit scores) alive until
    Python's cyclic collector runs.
    """
    frames: list[tuple[int, int, list]] = []  # (node, arity, its argument values so far)
    i = 0
    while True:
        if i >= len(nodes):
            raise ProgramError(f"Program {tuple(nodes)} ends before all arguments are given.")
        taken = leaf(i)
        if taken is None and arity(nodes[i]):
            frames.append((i, arity(nodes[i]), []))
            i += 1
            continue
        value, i = taken if taken is not None else (apply(i, []), i + 1)
        while frames:
            node, n, args = frames[-1]
            args.append(value)
            if len(args) < n:
                break
            frames.pop()
            value = apply(node, args)
        else:
            return value, i


def _to_text(nodes: tuple[str, ...]) -> str:
    def leaf(i):
        return None if nodes[i] in PRIMITIVES else (nodes[i], i + 1)

    text, end = fold(nodes, leaf, lambda i, args: f"{nodes[i]}({', '.join(args)})")
    if end != len(nodes):
        raise ProgramError(f"Prefix nodes {nodes} hold more than one tree.")
    return text


def _node_kinds(nodes: tuple[str, ...], text: str | None = None, positions=None) -> tuple[str, ...]:
    """Kinds of all nodes; raises ProgramError for unknown names, arity or kind mismatches."""
    kinds: list[str | None] = [None] * len(nodes)

    def where(i):
        return (text, positions[i]) if text is not None else (str(nodes), 0)

    def leaf(i):
        name = nodes[i]
        if name in TERMINAL_KINDS:
            kinds[i] = TERMINAL_KINDS[name]
            return kinds[i], i + 1
        if name not in PRIMITIVES:
            raise _error(*where(i), f"Unknown name {name!r}: not a primitive or terminal.")
        return None

    def apply(i, child_kinds):
        prim = PRIMITIVES[nodes[i]]
        kinds[i] = prim.result_kind(tuple(child_kinds))
        if kinds[i] is None:
            got = ", ".join(f"{k} ({DESCRIPTIONS[k]})" for k in child_kinds)
            allowed = "; ".join(f"({', '.join(a)}) -> {r}" for a, r in prim.signatures)
            raise _error(
                *where(i), f"Type error: {nodes[i]} does not take {got}. It takes: {allowed}."
            )
        return kinds[i]

    if not nodes:
        raise ProgramError("Empty program.")
    _, end = fold(nodes, leaf, apply)
    if end != len(nodes):
        raise _error(*where(end), "Unexpected extra nodes after a complete program.")
    return tuple(kinds)


# ----------------------------------------------------------------------------- parsing

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:@[A-Za-z_]+)?)|(?P<punct>[(),]))")


def _tokenize(text: str) -> list[tuple[str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            start = len(text) - len(text[pos:].lstrip())
            raise _error(text, start, f"Unexpected character {text[start]!r}.")
        kind = "name" if m.group("name") else "punct"
        tokens.append((m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


def parse(text: str) -> Program:
    """Reads a program's text form; ``ARGn`` (EZNAS numbering) is read as our terminal name."""
    if not isinstance(text, str):
        raise ProgramError(f"Expected program text, got {type(text).__name__}.")
    tokens = _tokenize(text)
    nodes: list[str] = []
    positions: list[int] = []
    i = 0

    def expect(value: str):
        nonlocal i
        if i >= len(tokens):
            raise _error(text, len(text), f"Expected {value!r} but the program ended.")
        tok, pos = tokens[i]
        if tok != value:
            raise _error(text, pos, f"Expected {value!r}, found {tok!r}.")
        i += 1

    open_args: list[int] = []  # arguments still to read, per open primitive
    while True:
        if i >= len(tokens):
            raise _error(text, len(text), "Expected a primitive or terminal but the program ended.")
        tok, pos = tokens[i]
        if tok in "(),":
            raise _error(text, pos, f"Expected a primitive or terminal, found {tok!r}.")
        i += 1
        name = _alias(tok)
        nodes.append(name)
        positions.append(pos)
        if name in PRIMITIVES:
            expect("(")
            if PRIMITIVES[name].arity:
                open_args.append(PRIMITIVES[name].arity)
                continue
            expect(")")
        elif name not in TERMINAL_KINDS:
            raise _error(text, pos, f"Unknown name {tok!r}: not a primitive or terminal.")
        elif i < len(tokens) and tokens[i][0] == "(":
            raise _error(text, pos, f"{tok!r} is a terminal and takes no arguments.")
        while open_args:  # a subtree is complete: close the primitives it completes
            open_args[-1] -= 1
            if open_args[-1]:
                expect(",")
                break
            open_args.pop()
            expect(")")
        else:
            break
    if i != len(tokens):
        raise _error(text, tokens[i][1], f"Unexpected {tokens[i][0]!r} after a complete program.")
    _node_kinds(tuple(nodes), text, positions)  # type errors point into the text
    return Program(tuple(nodes))


def _alias(token: str) -> str:
    m = re.fullmatch(r"ARG(\d+)", token)
    if m and int(m.group(1)) in EZNAS_ARGS:
        return EZNAS_ARGS[int(m.group(1))]
    return token

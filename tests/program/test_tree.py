import numpy as np
import pytest

from zcjax.program import PRIMITIVES, PROGRAMS, Program, ProgramError, parse
from zcjax.program.kinds import ALL_KINDS
from zcjax.program.terminals import EZNAS_ARGS, TERMINALS
from zcjax.program.tree import TERMINAL_KINDS

EZNAS_A = "frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))"


def random_program(rng: np.random.Generator, kind: str, depth: int) -> list[str]:
    """A random well-typed prefix list of the given result kind (test-only generator)."""
    terminals = [t for t, k in TERMINAL_KINDS.items() if k == kind]
    if depth == 0 and terminals:
        return [str(rng.choice(terminals))]
    options = [(p, args) for p in PRIMITIVES.values() for args, r in p.signatures if r == kind]
    if depth == 0:  # no terminal of this kind: end with a primitive straight over terminals
        options = [(p, a) for p, a in options if all(k in ("A", "W") for k in a)]
    prim, args = options[rng.integers(len(options))]
    nodes = [prim.name]
    for arg_kind in args:
        nodes += random_program(rng, arg_kind, max(depth - 1, 0))
    return nodes


def test_parse_eznas_a():
    p = parse(EZNAS_A)
    assert p.nodes == ("frobenius_norm", "sigmoid", "logdet", "sign", "relu_in_grad@data")
    assert p.kinds == ("S", "Am", "Am", "A", "A")
    assert p.height == 4 and len(p) == 5
    assert p.terminals == ("relu_in_grad@data",)


def test_eznas_arg_aliases_read_as_our_names():
    assert parse("frobenius_norm(sigmoid(logdet(sign(ARG8))))") == parse(EZNAS_A)
    assert EZNAS_ARGS[0] == "bn_out_grad@perturbed" and EZNAS_ARGS[1] == "weight"
    assert [EZNAS_ARGS[i] for i in (2, 3, 4)] == [
        f"weight_grad@{s}" for s in ("data", "noise", "perturbed")
    ]
    assert sorted(EZNAS_ARGS.values()) == sorted(TERMINALS) and len(TERMINALS) == 22


@pytest.mark.parametrize("seed", range(200))
def test_random_programs_round_trip(seed):
    rng = np.random.default_rng(seed)
    kind = ["S", "A", "W", "Am", "Wm"][seed % 5]
    program = Program.of(random_program(rng, kind, depth=int(rng.integers(0, 6))))
    text = str(program)
    again = parse(text)
    assert again == program and hash(again) == hash(program)
    assert str(again) == text
    assert again.kind == kind
    # Whitespace does not matter; printing is canonical.
    assert parse(text.replace(", ", " ,  ").replace("(", " ( ")) == program


def test_registry_programs_parse_to_scalars():
    """Published programs are EZNAS unit programs (scalar per unit); evolved ones (with an
    origin) may be network programs or rank ensembles."""
    for spec in PROGRAMS.values():
        assert spec.program.kind in (("S",) if spec.origin is None else ("S", "N", "E"))
        assert str(spec.program) == spec.text


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("frobenius_norm(sigmoid(logdet(sign(foo))))", "Unknown name 'foo'", 35),
        ("logdet(logdet(relu_in@data))", "Type error: logdet does not take Am", 0),
        ("add(relu_in@data, weight)", "Type error: add does not take A .*, W", 0),
        ("add(relu_in@data)", "Expected ','", 16),
        ("sign(relu_in@data", "Expected '\\)' but the program ended", 17),
        ("sign(relu_in@data))", "Unexpected '\\)'", 18),
        ("relu_in@data(x)", "terminal and takes no arguments", 0),
        ("sign(relu_in@data) $", "Unexpected character", 19),
        ("", "ended", 0),
        ("sign(,)", "Expected a primitive or terminal, found ','", 5),
    ],
)
def test_errors_point_at_the_token(text, message, column):
    with pytest.raises(ProgramError, match=message) as e:
        parse(text)
    lines = str(e.value).splitlines()
    assert lines[-2].strip() == text.strip() or text == ""
    assert lines[-1].index("^") - 2 == column


def test_program_of_checks_nodes():
    with pytest.raises(ProgramError, match="ends before all arguments"):
        Program.of(["add", "relu_in@data"])
    with pytest.raises(ProgramError, match="extra nodes"):
        Program.of(["relu_in@data", "relu_in@data"])
    with pytest.raises(ProgramError, match="Unknown name"):
        Program.of(["nope"])


def test_subtree_end_and_depths():
    p = parse("add(mean(relu_in@data), frobenius_norm(sign(weight)))")
    assert p.subtree_end(0) == len(p)
    assert p.subtree_end(1) == 3  # mean, relu_in@data
    assert p.subtree_end(3) == 6
    assert p.depths == (0, 1, 2, 1, 2, 3)


def test_every_kind_is_reachable_from_terminals():
    produced = {k for t, k in TERMINAL_KINDS.items()}
    for _ in range(3):
        for p in PRIMITIVES.values():
            for args, result in p.signatures:
                if all(a in produced for a in args):
                    produced.add(result)
    assert produced == set(ALL_KINDS)


def test_programs_deeper_than_the_recursion_limit():
    """Every walk (printing, typing, parsing, shape checks, evaluation) uses ``tree.fold``'s
    explicit stack, so depth is not bounded by Python's recursion limit."""
    import sys

    from zcjax.program.compile import fits, unit_output

    depth = sys.getrecursionlimit() + 100
    text = "sign(" * depth + "relu_in@data" + ")" * depth
    program = parse(text)
    assert len(program) == depth + 1 and program.kind == "A"
    assert str(program) == text and program.height == depth
    assert fits(program, (("relu_in@data", (2, 3, 3, 4)),))
    x = -np.ones((2, 3, 3, 4), np.float32)  # native [B, H, W, C]; the walk sees [B, C, H, W]
    out = unit_output(program, {"relu_in@data": x}, op=lambda name: np.sign)
    assert out.shape == (2, 4, 3, 3) and (out == -1).all()


def test_fold_takes_subtrees_whole_and_reports_truncation():
    from zcjax.program.tree import fold

    nodes = ("add", "mean", "relu_in@data", "frobenius_norm", "sign", "weight")
    seen = []

    def leaf(i):  # take `mean(...)` whole, as a memo hit would
        if nodes[i] == "mean":
            return "M", 3
        return (nodes[i], i + 1) if i in (2, 5) else None

    def apply(i, args):
        seen.append(i)
        return f"{nodes[i]}[{','.join(args)}]"

    assert fold(nodes, leaf, apply) == ("add[M,frobenius_norm[sign[weight]]]", 6)
    assert seen == [4, 3, 0]  # children before parents; node 2 never visited
    with pytest.raises(ProgramError, match="ends before all arguments"):
        fold(nodes[:5], leaf, apply)

"""Parameter trees addressed by paths: nested dicts whose leaves are arrays."""

from __future__ import annotations

from zcjax import netplan

Params = dict


def get_path(tree: Params, path: netplan.Path):
    """The subtree of ``tree`` at ``path`` (a tuple of keys)."""
    for name in path:
        tree = tree[name]
    return tree


def set_path(tree: Params, path: netplan.Path, value) -> None:
    """Puts ``value`` at ``path`` in ``tree``, creating the levels above it."""
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value

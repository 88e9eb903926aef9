"""Union-find over names: the memory planner's shared buffers, the quantizer's shared-scale and precision groups."""

from __future__ import annotations


class UnionFind:
    """Disjoint sets of names, with path halving; a name is its own set until joined."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, keep: str, other: str) -> None:
        """Join ``other``'s set to ``keep``'s; ``keep``'s root stays the root (the planner keys its buffers by it)."""
        self.parent[self.find(other)] = self.find(keep)

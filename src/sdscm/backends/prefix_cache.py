"""A radix tree of token prefixes holding their key/value states, with LRU eviction.

Contexts in an SD-SCM share long prefixes: all units start with the same root phrasing, and in
a densely connected DAG the context of each variable extends the previous one. The backend
looks up the longest cached prefix of each context, runs only the remaining tokens, and
stores their key/value states for later contexts, so a unit's story costs about one pass over
its own text instead of one pass per variable.

Each node holds one *segment* of tokens (the edge from its parent) and the key/value tensor of
that segment, shaped (layers, 2, kv_heads, segment_length, head_dim). Keys and values of a
token depend only on the tokens before it, so a segment's states are valid for every context
that passes through the node.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import torch


@dataclass(eq=False)
class PrefixNode:
    """One segment of a cached prefix: `tokens` with their key/value states `kv`."""

    tokens: tuple[int, ...]
    kv: torch.Tensor | None  # (layers, 2, heads, len(tokens), head_dim); None for the root
    parent: "PrefixNode | None" = None
    children: dict[int, "PrefixNode"] = field(default_factory=dict)
    last_used: int = 0

    @property
    def nbytes(self) -> int:
        return 0 if self.kv is None else self.kv.numel() * self.kv.element_size()


@dataclass(frozen=True)
class PrefixMatch:
    """The longest cached prefix of a sequence: `length` tokens, ending `offset` tokens into `node`."""

    node: PrefixNode
    offset: int
    length: int

    def path(self) -> list[tuple[PrefixNode, int]]:
        """(node, tokens used from it) from the root's first child down to the match."""
        out: list[tuple[PrefixNode, int]] = []
        node, used = self.node, self.offset
        while node.parent is not None:
            out.append((node, used))
            node = node.parent
            used = len(node.tokens)
        out.reverse()
        return out


class PrefixCache:
    """Radix tree of token-id prefixes with their key/value states, bounded by `max_bytes` (LRU)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.root = PrefixNode(tokens=(), kv=None)
        self.nbytes = 0
        self._clock = itertools.count(1)
        self.evicted_tokens = 0

    def __len__(self) -> int:
        return sum(1 for _ in self._nodes()) - 1

    def _nodes(self):
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    def match(self, ids: Sequence[int], max_length: int | None = None) -> PrefixMatch:
        """Longest cached prefix of `ids`, at most `max_length` tokens long."""
        limit = len(ids) if max_length is None else min(len(ids), max_length)
        node, i = self.root, 0
        tick = next(self._clock)
        while i < limit:
            child = node.children.get(ids[i])
            if child is None:
                break
            seg = child.tokens
            k = 0
            stop = min(len(seg), limit - i)
            while k < stop and seg[k] == ids[i + k]:
                k += 1
            child.last_used = tick
            if k < len(seg):
                if k == 0:
                    break
                return PrefixMatch(child, k, i + k)
            node, i = child, i + k
        return PrefixMatch(node, len(node.tokens), i)

    def gather(self, match: PrefixMatch, out: torch.Tensor) -> None:
        """Copy the matched prefix's states into `out[..., :match.length, :]` (layers, 2, heads, P, d)."""
        pos = 0
        for node, used in match.path():
            assert node.kv is not None
            out[:, :, :, pos : pos + used] = node.kv[:, :, :, :used]
            pos += used

    def insert(self, match: PrefixMatch, tokens: Sequence[int], kv: torch.Tensor) -> None:
        """Store `tokens` (with states `kv`) as the continuation of the matched prefix."""
        if not tokens:
            return
        parent = match.node
        if match.offset < len(parent.tokens):
            parent = self._split(parent, match.offset)
        first = tokens[0]
        if first in parent.children:  # an equal or longer path exists already (same-batch twin)
            return
        node = PrefixNode(tuple(tokens), kv.contiguous(), parent=parent, last_used=next(self._clock))
        parent.children[first] = node
        self.nbytes += node.nbytes
        self.evict()

    def _split(self, node: PrefixNode, at: int) -> PrefixNode:
        """Cut `node` after `at` tokens; returns the new upper node (the prefix part)."""
        assert node.parent is not None and node.kv is not None and 0 < at < len(node.tokens)
        upper = PrefixNode(node.tokens[:at], node.kv[:, :, :, :at].clone(), parent=node.parent,
                           last_used=node.last_used)
        node.parent.children[node.tokens[0]] = upper
        lower_kv = node.kv[:, :, :, at:].clone()
        self.nbytes += upper.nbytes + lower_kv.numel() * lower_kv.element_size() - node.nbytes
        node.tokens, node.kv, node.parent = node.tokens[at:], lower_kv, upper
        upper.children[node.tokens[0]] = node
        return upper

    def evict(self) -> None:
        """Drop least recently used leaves until the states fit in `max_bytes`."""
        if self.nbytes <= self.max_bytes:
            return
        leaves = sorted((n for n in self._nodes() if not n.children and n.parent is not None),
                        key=lambda n: n.last_used)
        while self.nbytes > self.max_bytes and leaves:
            node = leaves.pop(0)
            parent = node.parent
            assert parent is not None
            del parent.children[node.tokens[0]]
            self.nbytes -= node.nbytes
            self.evicted_tokens += len(node.tokens)
            if parent.parent is not None and not parent.children:
                # the parent became a leaf: keep it in LRU order
                idx = 0
                while idx < len(leaves) and leaves[idx].last_used <= parent.last_used:
                    idx += 1
                leaves.insert(idx, parent)

    def clear(self) -> None:
        self.root = PrefixNode(tokens=(), kv=None)
        self.nbytes = 0

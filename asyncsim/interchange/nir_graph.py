"""The structure of a NIR graph as asyncsim sees it (docs/semantics.md#nir-interchange).

Nested graphs spliced in; every projection traced from its weight node back through at most one
``AvgPool2d`` and ``Flatten`` to the ``Input`` or neuron node it comes from; the neuron nodes put
in asyncsim's layer order. Node types asyncsim has no equivalent of are refused here.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from .lif import reject

WEIGHT_NODES = (nir.Linear, nir.Affine, nir.Conv2d)
NEURON_NODES = (nir.LIF, nir.LI)
PATH_NODES = (nir.AvgPool2d, nir.Flatten)
# Why the NIR nodes asyncsim has no equivalent of are refused: (parameter, reason).
UNSUPPORTED = {
    "IF": ("r", "describes a neuron without leak; asyncsim neurons leak (finite tau)"),
    "CubaLIF": (
        "tau_syn",
        "is a current-based synapse; asyncsim delivers a current to the membrane at once",
    ),
    "CubaLI": (
        "tau_syn",
        "is a current-based synapse; asyncsim delivers a current to the membrane at once",
    ),
    "SumPool2d": ("kernel_size", "sums; asyncsim pools by averaging (AvgPool2d)"),
}


@dataclass(frozen=True)
class GraphProjection:
    """A projection of the graph, named by its nodes."""

    weight: str  # the weight node
    source: str  # the Input or neuron node it comes from
    target: str  # the neuron node it feeds
    pool: int


def node_type(node: nir.NIRNode) -> str:
    """The NIR type name, as errors show it."""
    return type(node).__name__


def flatten_graph(graph: nir.NIRGraph) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """Nodes and edges with every nested graph (snnTorch's ``RLeaky`` export) spliced in: its
    nodes named ``outer.inner``, edges through its ``Input`` and ``Output``."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    entries: dict[str, list[str]] = {}
    exits: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        inner, inner_edges = flatten_graph(node)
        ins = [k for k, n in inner.items() if isinstance(n, nir.Input)]
        outs = [k for k, n in inner.items() if isinstance(n, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise reject(
                name, "NIRGraph", "nodes", "must hold one Input and one Output", sorted(inner)
            )
        entries[name] = [f"{name}.{b}" for a, b in inner_edges if a == ins[0]]
        exits[name] = [f"{name}.{a}" for a, b in inner_edges if b == outs[0]]
        nodes.update({f"{name}.{k}": n for k, n in inner.items() if k not in (ins[0], outs[0])})
        edges += [
            (f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges if a != ins[0] and b != outs[0]
        ]
    for a, b in graph.edges:
        edges += [(src, dst) for src in exits.get(a, [a]) for dst in entries.get(b, [b])]
    return nodes, edges


def _pool_size(name: str, node: nir.AvgPool2d) -> int:
    kernel = np.atleast_1d(np.asarray(node.kernel_size)).reshape(-1)
    stride = np.atleast_1d(np.asarray(node.stride)).reshape(-1)
    padding = np.atleast_1d(np.asarray(node.padding)).reshape(-1)
    if len(set(kernel.tolist())) != 1:
        raise reject(name, "AvgPool2d", "kernel_size", "must be square", kernel.tolist())
    if not (stride == kernel[0]).all():
        raise reject(
            name,
            "AvgPool2d",
            "stride",
            "must equal kernel_size (asyncsim pools non-overlapping blocks)",
            stride.tolist(),
        )
    if padding.any():
        raise reject(name, "AvgPool2d", "padding", "must be 0", padding.tolist())
    return int(kernel[0])


def _trace(
    weight: str, nodes: dict[str, nir.NIRNode], preds: dict[str, list[str]], target: str
) -> tuple[GraphProjection, list[str]]:
    """The projection ending in ``weight`` and the pooling/flatten nodes on its way."""
    pool, passed = 1, []
    current = weight
    while True:
        if len(preds.get(current, [])) != 1:
            raise reject(
                current,
                node_type(nodes[current]),
                "edges",
                "must have exactly one input",
                preds.get(current, []),
            )
        current = preds[current][0]
        node = nodes[current]
        if isinstance(node, nir.Flatten):
            if pool > 1:
                raise reject(current, "Flatten", "edges", "must come after the pooling", weight)
        elif isinstance(node, nir.AvgPool2d):
            if pool > 1:
                raise reject(current, "AvgPool2d", "edges", "one pooling per projection", weight)
            pool = _pool_size(current, node)
        elif isinstance(node, (nir.Input, *NEURON_NODES)):
            return GraphProjection(weight, current, target, pool), passed
        else:
            raise reject(
                current,
                node_type(node),
                "edges",
                "cannot lie between a neuron layer and "
                f"weight node {weight!r} (only AvgPool2d and Flatten can)",
                node_type(node),
            )
        passed.append(current)


def projections_of(
    nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]
) -> list[GraphProjection]:
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise reject(end, "?", "edges", "names a node the graph does not hold", (a, b))
        preds.setdefault(b, []).append(a)
        succs.setdefault(a, []).append(b)
    for name, node in nodes.items():
        if node_type(node) in UNSUPPORTED:
            param, why = UNSUPPORTED[node_type(node)]
            raise reject(name, node_type(node), param, why, getattr(node, param, None))
        if not isinstance(node, (*WEIGHT_NODES, *NEURON_NODES, *PATH_NODES, nir.Input, nir.Output)):
            raise reject(
                name,
                node_type(node),
                "type",
                "is not a node asyncsim can represent "
                "(Input, Output, Linear, Affine, Conv2d, AvgPool2d, Flatten, LIF, LI)",
                node_type(node),
            )
    projections, used = (
        [],
        {
            n
            for n, node in nodes.items()
            if isinstance(node, (nir.Input, nir.Output, *NEURON_NODES))
        },
    )
    for name, node in nodes.items():
        if not isinstance(node, NEURON_NODES):
            continue
        for pred in preds.get(name, []):
            if not isinstance(nodes[pred], WEIGHT_NODES):
                raise reject(
                    name,
                    node_type(node),
                    "edges",
                    "a neuron layer must be fed through Linear, Affine or Conv2d",
                    f"{pred} ({node_type(nodes[pred])})",
                )
            if succs[pred] != [name]:
                raise reject(
                    pred, node_type(nodes[pred]), "edges", "must feed one neuron node", succs[pred]
                )
            projection, passed = _trace(pred, nodes, preds, name)
            projections.append(projection)
            used.update([pred, *passed])
    for name in nodes.keys() - used:
        raise reject(
            name,
            node_type(nodes[name]),
            "edges",
            "lies on no path from the input or a neuron layer to a neuron layer",
            succs.get(name, []),
        )
    return projections


def layer_order(projections: list[GraphProjection], nodes: dict[str, nir.NIRNode]) -> list[str]:
    """The neuron nodes in asyncsim's layer order: each fed by the one below (the first by
    the input); where two could come next, the one whose other inputs are all placed."""
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise reject("graph", "NIRGraph", "nodes", "must hold exactly one Input", inputs)
    order = [inputs[0]]
    todo = {p.target for p in projections}
    while todo:
        below = order[-1]
        fed = sorted({p.target for p in projections if p.source == below and p.target in todo})
        ready = [
            t
            for t in fed
            if all(p.source in order or p.source == t for p in projections if p.target == t)
        ]
        pick = ready if len(ready) == 1 else fed
        if len(pick) != 1:
            why = (
                "feeds no further neuron layer"
                if not fed
                else f"feeds several neuron layers {fed} that could come next"
            )
            raise reject(
                below,
                node_type(nodes[below]),
                "edges",
                f"{why}; asyncsim needs the layers as a chain, each fed by the one below",
                sorted(todo),
            )
        order.append(pick[0])
        todo.discard(pick[0])
    return order

"""A NIR graph as an asyncsim ``Network`` (docs/semantics.md#nir-interchange).

Every ``LIF`` node (``LI`` for a non-spiking output layer) becomes a neuron layer. Every
``Linear``, ``Affine`` or ``Conv2d`` node is a projection into the neuron node it feeds, from
the ``Input`` or neuron node it is fed by, through at most one ``AvgPool2d`` and ``Flatten``.
The layers must form asyncsim's chain (each fed by the one below, docs/semantics.md#architecture);
other dense projections, cycles included, become ``Link``s. Anything asyncsim cannot represent
exactly is refused with one ``ValueError`` naming the node and the parameter. The graph's
structure is read by ``nir_graph``; this module turns it into layer specs and parameters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import torch

from asyncsim.architecture import Conv, Dense, LayerSpec, Link, Shape, build, input_shape
from asyncsim.network import Network

from .lif import asyncsim_tau, euler_decay, input_gain, reject
from .nir_graph import GraphProjection, flatten_graph, layer_order, node_type, projections_of


def _conv_spec(name: str, node: nir.Conv2d, pool: int) -> Conv:
    weight = np.asarray(node.weight)
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise reject(
            name, "Conv2d", "weight", "must be [C_out, C_in, K, K] (square kernel)", weight.shape
        )
    if isinstance(node.padding, str):
        raise reject(name, "Conv2d", "padding", "must be numbers", node.padding)
    fields = {}
    for param in ("stride", "padding", "dilation"):
        values = np.atleast_1d(np.asarray(getattr(node, param))).reshape(-1).tolist()
        if len(set(values)) != 1:
            raise reject(name, "Conv2d", param, "must be equal along both axes", values)
        fields[param] = int(values[0])
    if fields["dilation"] != 1:
        raise reject(name, "Conv2d", "dilation", "must be 1", fields["dilation"])
    if int(node.groups) != 1:
        raise reject(name, "Conv2d", "groups", "must be 1", node.groups)
    return Conv(weight.shape[0], weight.shape[2], fields["stride"], fields["padding"], pool)


def _specs(
    order: list[str], projections: list[GraphProjection], nodes: dict[str, nir.NIRNode]
) -> tuple[list[LayerSpec], list[GraphProjection]]:
    """Layer specs (chain, then links) and the projections in ``Network.projections`` order."""
    layer = {name: i for i, name in enumerate(order)}  # 0 = the input
    chain: list[GraphProjection] = []
    links: list[GraphProjection] = []
    for below, name in zip(order, order[1:], strict=False):
        mine = [p for p in projections if p.target == name and p.source == below]
        if len(mine) != 1:
            raise reject(
                name,
                node_type(nodes[name]),
                "edges",
                f"must be fed by exactly one weight node from the layer below ({below!r})",
                [p.weight for p in mine],
            )
        chain.append(mine[0])
    specs: list[LayerSpec] = []
    for proj in chain:
        node = nodes[proj.weight]
        if isinstance(node, nir.Conv2d):
            specs.append(_conv_spec(proj.weight, node, proj.pool))
        else:
            specs.append(Dense(int(np.asarray(node.weight).shape[0]), pool=proj.pool))
    for proj in sorted(
        set(projections) - set(chain), key=lambda p: (layer[p.target], layer[p.source], p.weight)
    ):
        node = nodes[proj.weight]
        if isinstance(node, nir.Conv2d) or proj.pool > 1:
            raise reject(
                proj.weight,
                node_type(node),
                "edges",
                "only a dense, unpooled projection can skip layers or recur (asyncsim's Link)",
                (proj.source, proj.target),
            )
        specs.append(Link(layer[proj.source], layer[proj.target]))
        links.append(proj)
    return specs, chain + links


def _per_neuron(name: str, kind: str, param: str, value: object, size: int) -> np.ndarray:
    """A NIR parameter (a scalar, or one value per neuron in any shape) as ``[size]`` float64."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return np.full(size, arr.reshape(-1)[0])
    if arr.size != size:
        raise reject(
            name, kind, param, f"must hold 1 or {size} values (the layer's neurons)", arr.shape
        )
    return arr.reshape(-1)


@dataclass(frozen=True)
class _LayerParams:
    decay: np.ndarray  # float64 Euler factor per neuron
    theta: np.ndarray
    tau_guess: np.ndarray | None
    gain: np.ndarray | None  # input gain r*dt/tau to fold into the weights, where not 1


def _layer_params(
    name: str, node: nir.NIRNode, size: int, dt: float, is_last: bool, fold: bool
) -> _LayerParams:
    kind = node_type(node)
    params = ["tau", "r", "v_leak"] + (["v_threshold", "v_reset"] if kind == "LIF" else [])
    values = {p: _per_neuron(name, kind, p, getattr(node, p), size) for p in params}
    if values["v_leak"].any():
        raise reject(
            name,
            kind,
            "v_leak",
            "must be 0 (asyncsim's membrane decays to 0)",
            float(values["v_leak"][values["v_leak"] != 0][0]),
        )
    if kind == "LI":
        if not is_last:
            raise reject(
                name,
                kind,
                "type",
                "a non-spiking LI layer can only be the output "
                "layer (asyncsim's readout='membrane')",
                kind,
            )
        theta = np.ones(size)  # never tested: the layer does not fire
    else:
        if values["v_reset"].any():
            raise reject(
                name,
                kind,
                "v_reset",
                "must be 0 (asyncsim resets to zero)",
                float(values["v_reset"][values["v_reset"] != 0][0]),
            )
        theta = values["v_threshold"]
        bad = ~(np.isfinite(theta) & (theta > 0))
        if bad.any():
            raise reject(name, kind, "v_threshold", "must be finite and > 0", float(theta[bad][0]))
    decay = euler_decay(name, kind, values["tau"], dt)
    gain = input_gain(name, kind, values["tau"], values["r"], dt, fold)
    guess = node.metadata.get("asyncsim_tau") if node.metadata else None
    if guess is not None:
        guess = np.asarray(guess, dtype=np.float64).reshape(-1)
        guess = guess if guess.size == size else None
    return _LayerParams(decay, theta, guess, gain)


def _layer_bias(
    proj: GraphProjection, node: nir.NIRNode, shape: Shape, conv: bool
) -> np.ndarray | None:
    """The non-zero bias a weight node adds to its layer, per channel for a conv layer."""
    bias = getattr(node, "bias", None)
    if bias is None or not np.asarray(bias).any():
        return None
    bias = np.asarray(bias, dtype=np.float64).reshape(-1)
    if isinstance(node, nir.Conv2d):
        return bias
    if not conv:
        return bias
    per_position = bias.reshape(shape[0], -1)
    if not (per_position == per_position[:, :1]).all():
        raise reject(
            proj.weight,
            node_type(node),
            "bias",
            f"must be one value per channel of conv layer {proj.target!r} (asyncsim's conv bias)",
            per_position.shape,
        )
    return per_position[:, 0]


def _folded_gain(
    name: str, node: nir.NIRNode, gain: np.ndarray | None, shape: Shape, conv: bool
) -> np.ndarray | None:
    """A layer's input gain as its weights and bias take it: per neuron, or per channel for a
    conv layer (whose kernels and bias are per channel); warns that it is folded."""
    if gain is None:
        return None
    if conv:
        per_position = gain.reshape(shape[0], -1)
        if not (per_position == per_position[:, :1]).all():
            raise reject(
                name,
                node_type(node),
                "r",
                "gives an input gain r*dt/tau that varies within a channel of a conv layer, "
                "which its kernels cannot hold",
                per_position.shape,
            )
        gain = per_position[:, 0]
    warnings.warn(
        f"from_nir: NIR node {name!r} ({node_type(node)}): input gain r*dt/tau "
        f"(from {gain.min():.6g} to {gain.max():.6g}) folded into the weights and bias that "
        "feed it",
        stacklevel=3,
    )
    return gain


def _input_shape(name: str, node: nir.Input) -> Shape:
    shape = [int(v) for v in np.asarray(next(iter(node.input_type.values()))).reshape(-1)]
    if len(shape) not in (1, 3):
        raise reject(name, "Input", "input_type", "must be [n] or [C, H, W]", shape)
    return input_shape(shape[0] if len(shape) == 1 else shape)


def read_graph(graph_or_path: nir.NIRGraph | str | Path) -> nir.NIRGraph:
    """The graph itself, or the graph a ``.nir`` file holds (a clear error naming the file)."""
    if isinstance(graph_or_path, nir.NIRGraph):
        return graph_or_path
    path = Path(graph_or_path)
    if not path.is_file():
        raise ValueError(f"nir: file not found: {path}")
    try:
        return nir.read(path)
    except Exception as err:  # nir and h5py raise many types for a damaged file
        raise ValueError(f"nir: cannot read {path}: {err}") from None


def graph_dt(graph: nir.NIRGraph, dt: float | None) -> float:
    """``dt`` if given, else the one an asyncsim export recorded in the graph's metadata."""
    if dt is None:
        dt = (graph.metadata or {}).get("dt")
        if dt is None:
            raise ValueError(
                "dt: the NIR graph does not record its timestep; pass dt= (the "
                "width of one timestep, in the unit of the graph's tau; snnTorch "
                "exports use dt=1e-4)"
            )
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: must be finite and > 0, got {dt!r}")
    return dt


def from_nir(
    graph_or_path: nir.NIRGraph | str | Path,
    dt: float | None = None,
    surrogate: str = "atan",
    fold_input_gain: bool = False,
) -> Network:
    """A ``Network`` equal to the NIR graph (a ``nir.NIRGraph`` or a ``.nir`` file) stepped
    with timestep ``dt`` (docs/semantics.md#nir-interchange): forward-Euler LIF, decay
    ``1 - dt/tau`` per timestep. ``dt`` defaults to the one an asyncsim export recorded.
    ``surrogate`` is the training surrogate (NIR does not describe one). A neuron whose input
    gain ``r dt/tau`` is not 1 is refused, unless ``fold_input_gain``: then the gain multiplies
    the weights and bias that feed it (one float32 rounding each), with a warning naming it."""
    graph = read_graph(graph_or_path)
    dt = graph_dt(graph, dt)
    nodes, edges = flatten_graph(graph)
    projections = projections_of(nodes, edges)
    order = layer_order(projections, nodes)
    outputs = [n for n, node in nodes.items() if isinstance(node, nir.Output)]
    fed = sorted(a for a, b in edges if b in outputs)
    if fed != [order[-1]]:
        raise reject(
            outputs[0] if outputs else "graph",
            "Output",
            "edges",
            "must be fed by the "
            f"last neuron layer {order[-1]!r} alone (asyncsim reads out its last layer)",
            fed,
        )
    specs, ordered = _specs(order, projections, nodes)
    shapes, _ = build(_input_shape(order[0], nodes[order[0]]), specs)
    layer_shapes = shapes[1:]
    sizes = [int(np.prod(s)) for s in layer_shapes]
    params = [
        _layer_params(name, nodes[name], size, dt, i == len(sizes) - 1, fold_input_gain)
        for i, (name, size) in enumerate(zip(order[1:], sizes, strict=True))
    ]
    conv_layer = [isinstance(s, Conv) for s in specs[: len(sizes)]]
    biases: list[np.ndarray | None] = [None] * len(sizes)
    for proj in ordered:
        t = order.index(proj.target) - 1
        bias = _layer_bias(proj, nodes[proj.weight], layer_shapes[t], conv_layer[t])
        if bias is not None and biases[t] is not None:
            raise reject(
                proj.weight,
                node_type(nodes[proj.weight]),
                "bias",
                f"is a second non-zero bias into layer {proj.target!r} (asyncsim holds one per "
                "layer; adding two would round differently from the producer)",
                bias.tolist()[:4],
            )
        biases[t] = bias if bias is not None else biases[t]
    readout = "membrane" if isinstance(nodes[order[-1]], nir.LI) else "spikes"
    net = Network(
        [shapes[0], *specs],
        tau=1.0,
        theta=torch.from_numpy(np.concatenate([p.theta for p in params])).float(),
        dt=dt,
        bias=any(b is not None for b in biases),
        surrogate=surrogate,
        readout=readout,
    )
    gains = [
        _folded_gain(name, nodes[name], p.gain, shape, conv)
        for name, p, shape, conv in zip(order[1:], params, layer_shapes, conv_layer, strict=True)
    ]
    with torch.no_grad():
        taus = [asyncsim_tau(p.decay, dt, p.tau_guess) for p in params]
        net.tau.copy_(torch.cat(taus))
        for proj, spec, weight in zip(ordered, net.projections, net.weights, strict=True):
            value = np.asarray(nodes[proj.weight].weight)
            if tuple(value.shape) != tuple(weight.shape):
                raise reject(
                    proj.weight,
                    node_type(nodes[proj.weight]),
                    "weight",
                    f"must be shaped {tuple(weight.shape)} for {spec.describe()}",
                    tuple(value.shape),
                )
            gain = gains[spec.target - 1]
            if gain is not None:  # per output channel of a kernel, per row of a dense matrix
                rows = gain if value.ndim == 4 else np.repeat(gain, spec.n_target // gain.size)
                value = np.asarray(value, dtype=np.float64) * rows.reshape(
                    -1, *[1] * (value.ndim - 1)
                )
            weight.copy_(torch.as_tensor(value, dtype=torch.float32))
        if net.biases is not None:
            for param, bias, gain in zip(net.biases, biases, gains, strict=True):
                if bias is not None:
                    param.copy_(torch.from_numpy(bias * (1.0 if gain is None else gain)).float())
    net.check_weights()
    return net

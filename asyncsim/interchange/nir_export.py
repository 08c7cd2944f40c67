"""An asyncsim ``Network`` as a NIR graph (docs/semantics.md#nir-interchange).

Each neuron layer is a ``LIF`` node (``LI`` for a membrane-readout output layer) whose Euler
factor ``1 - dt/tau`` is the layer's float32 decay ``exp(-dt/tau_a)``, with ``r = tau/dt`` (an
input gain of 1) and zero ``v_leak`` and ``v_reset``. Each projection is an optional
``AvgPool2d``, a ``Flatten`` where a map feeds a dense projection, and a ``Conv2d``, ``Linear``
or ``Affine`` node (the layer's bias rides on the projection from the layer below). The graph
records ``dt`` and every layer's exact ``tau`` in its metadata so that ``from_nir`` restores the
same network.
"""

from __future__ import annotations

import nir
import numpy as np
import torch

from asyncsim.architecture import CONV, Projection, Shape
from asyncsim.network import Network

from .lif import nir_tau


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().float().numpy().copy()


def _is_map(net: Network, layer: int) -> bool:
    """Whether layer ``layer`` (0 = input) is a 2-D map in NIR: its shape has rows or columns,
    or a conv projection or a pooling touches it. Other layers are flat vectors."""
    shape: Shape = net.in_shape if layer == 0 else net.layer_shapes[layer - 1]
    return shape[1:] != (1, 1) or any(
        (p.kind == CONV and layer in (p.source, p.target)) or (p.pool > 1 and p.source == layer)
        for p in net.projections
    )


def _nir_shape(net: Network, layer: int) -> list[int]:
    shape: Shape = net.in_shape if layer == 0 else net.layer_shapes[layer - 1]
    return list(shape) if _is_map(net, layer) else [int(np.prod(shape))]


def _neuron_node(net: Network, layer: int) -> nir.NIRNode:
    sl = net.layer_slice(layer - 1)
    shape = _nir_shape(net, layer)
    tau = nir_tau(net.decay()[sl], net.dt).reshape(shape)
    params = {"tau": tau, "r": tau / net.dt, "v_leak": np.zeros_like(tau)}
    meta = {"asyncsim_tau": _array(net.tau[sl]).reshape(shape)}
    if layer == net.n_layers and net.readout == "membrane":
        return nir.LI(**params, metadata=meta)
    theta = _array(net.theta[sl]).astype(np.float64).reshape(shape)
    return nir.LIF(**params, v_threshold=theta, v_reset=np.zeros_like(theta), metadata=meta)


def _weight_node(proj: Projection, weight: torch.Tensor, bias: torch.Tensor | None) -> nir.NIRNode:
    w = _array(weight)
    if proj.kind == CONV:
        b = np.zeros(w.shape[0], dtype=np.float32) if bias is None else _array(bias)
        return nir.Conv2d(
            input_shape=proj.pooled_shape[1:],
            weight=w,
            stride=proj.stride,
            padding=proj.padding,
            dilation=1,
            groups=1,
            bias=b,
        )
    if bias is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=_array(bias))


def to_nir(net: Network) -> nir.NIRGraph:
    """The NIR graph of ``net`` (write it with ``nir.write(path, graph)``); ``from_nir`` of it
    is ``net`` again: same weights, thresholds, decays and spikes. Training-only settings
    (surrogate, refractory dropout) are not part of NIR and are not exported."""
    names = ["input", *(f"layer{i}" for i in range(1, net.n_layers + 1))]
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type={"input": np.array(_nir_shape(net, 0))}),
        "output": nir.Output(output_type={"output": np.array(_nir_shape(net, net.n_layers))}),
    }
    edges = [(names[-1], "output")]
    for layer in range(1, net.n_layers + 1):
        nodes[names[layer]] = _neuron_node(net, layer)
    with_bias: set[int] = set()
    for k, (proj, weight) in enumerate(zip(net.projections, net.weights, strict=True)):
        bias = None
        if net.biases is not None and proj.target not in with_bias:
            bias = net.biases[proj.target - 1]
            with_bias.add(proj.target)
        path = [names[proj.source]]
        if proj.pool > 1:
            nodes[f"pool{k}"] = nir.AvgPool2d(
                kernel_size=np.array([proj.pool] * 2),
                stride=np.array([proj.pool] * 2),
                padding=np.array([0, 0]),
            )
            path.append(f"pool{k}")
        if proj.kind != CONV and _is_map(net, proj.source):
            nodes[f"flatten{k}"] = nir.Flatten(
                input_type={"input": np.array(proj.pooled_shape)}, start_dim=0, end_dim=-1
            )
            path.append(f"flatten{k}")
        nodes[f"weight{k}"] = _weight_node(proj, weight, bias)
        path += [f"weight{k}", names[proj.target]]
        edges += list(zip(path, path[1:], strict=False))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": net.dt})

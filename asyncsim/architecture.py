"""Layers, projections and their geometry (docs/semantics.md#architecture).

A network is a chain of neuron layers, each fed by the one below through a dense (``Dense``) or
2-D convolutional (``Conv``) projection, plus optional extra dense projections between any two
layers (``Dense(recurrent=True)`` for a layer onto itself, ``Link(source, target)`` for any
pair). Every layer has a shape ``(C, H, W)`` (a dense layer of n neurons is ``(n, 1, 1)``);
its neurons are flattened channel-major, like ``torch.flatten`` of a ``[C, H, W]`` map and like
the frames of ``asyncsim.datasets`` (``p*H*W + y*W + x``).

A projection may average-pool its source map (``pool``, floor mode like ``F.avg_pool2d``)
before the dense or convolutional weights. It is one place for its geometry: the dense form
(``apply``: the whole map at once, for the input and the layered model), the structural fan-out
of every source neuron, and the per-source synapse table of a convolution that the event-driven
delivery of the reference backend uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

Shape = tuple[int, int, int]
DENSE, CONV = "dense", "conv"


@dataclass(frozen=True)
class Dense:
    """A layer of ``size`` neurons fully connected to the layer below (``fc(size)``).

    ``recurrent`` adds a dense projection from the layer onto itself; ``pool`` average-pools
    the map below before flattening it.
    """

    size: int
    recurrent: bool = False
    pool: int = 1


@dataclass(frozen=True)
class Conv:
    """A convolutional layer of ``channels`` maps fed by the layer below (``conv(...)``):
    ``kernel`` x ``kernel`` weights, ``stride``, zero ``padding``, after an optional
    ``pool`` x ``pool`` average pooling of the map below."""

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    pool: int = 1


@dataclass(frozen=True)
class Link:
    """An extra dense projection from layer ``source`` (0 = the input) to layer ``target``
    (1-based neuron layers; ``link(s,t)``). It creates no layer."""

    source: int
    target: int


LayerSpec = Dense | Conv | Link


@dataclass(frozen=True)
class Projection:
    """Weights from layer ``source`` (0 = input) to layer ``target`` (>= 1).

    Dense weights are shaped like ``nn.Linear(n_pooled_source, n_target).weight``, conv weights
    like ``nn.Conv2d(C_source, C_target, kernel).weight``.
    """

    source: int
    target: int
    kind: str
    in_shape: Shape
    out_shape: Shape
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    pool: int = 1

    @property
    def pooled_shape(self) -> Shape:
        c, h, w = self.in_shape
        return c, h // self.pool, w // self.pool

    @property
    def n_source(self) -> int:
        return math.prod(self.in_shape)

    @property
    def n_target(self) -> int:
        return math.prod(self.out_shape)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == CONV:
            return (self.out_shape[0], self.in_shape[0], self.kernel, self.kernel)
        return (self.n_target, math.prod(self.pooled_shape))

    @property
    def fan_in(self) -> int:
        """Weights summed into one target neuron (for the initialization)."""
        shape = self.weight_shape
        return math.prod(shape[1:])

    @property
    def scale(self) -> float:
        """The pooling's factor on every weight: a spike adds ``weight / pool**2``."""
        return 1.0 / (self.pool * self.pool)

    def describe(self) -> str:
        pool = f",pool{self.pool}" if self.pool > 1 else ""
        if self.kind == CONV:
            return (f"conv {self.source}->{self.target} ({self.out_shape[0]},{self.kernel},"
                    f"s{self.stride},p{self.padding}{pool})")
        return f"dense {self.source}->{self.target}{' (' + pool[1:] + ')' if pool else ''}"

    def _pooled(self, spikes: torch.Tensor) -> torch.Tensor:
        """``[B, n_source]`` → ``[B, C, H', W']`` after the pooling."""
        fmap = spikes.reshape(spikes.shape[0], *self.in_shape)
        return F.avg_pool2d(fmap, self.pool) if self.pool > 1 else fmap

    def apply(self, weight: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """Currents ``[B, n_target]`` of the whole source map ``spikes`` ``[B, n_source]`` (the
        dense form: ``F.conv2d`` or a matmul)."""
        if self.kind == CONV:
            out = F.conv2d(self._pooled(spikes), weight, stride=self.stride, padding=self.padding)
            return out.flatten(1)
        pooled = self._pooled(spikes).flatten(1) if self.pool > 1 else spikes
        return pooled @ weight.t()

    def _source_coords(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Channel, pooled row and column of every source neuron, and whether pooling keeps
        it (floor mode drops the last rows and columns of an uneven map)."""
        c, h, w = self.in_shape
        _, hp, wp = self.pooled_shape
        j = torch.arange(self.n_source, device=device)
        ch, y, x = j // (h * w), (j // w) % h, j % w
        yp, xp = y // self.pool, x // self.pool
        return ch, yp, xp, (yp < hp) & (xp < wp)

    def _positions_hit(self, pooled: torch.Tensor, size: int) -> torch.Tensor:
        """``[n, K]`` output coordinate reached through kernel offset 0..K-1 from each pooled
        coordinate, or -1 where none (off the map or between strides)."""
        offset = torch.arange(self.kernel, device=pooled.device)
        num = pooled[:, None] + self.padding - offset[None, :]
        pos = torch.div(num, self.stride, rounding_mode="floor")
        ok = (num >= 0) & (num % self.stride == 0) & (pos < size)
        return torch.where(ok, pos, -1)

    def fan_out(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """``[n_source]`` long: the target neurons one spike of each source neuron reaches."""
        _, yp, xp, kept = self._source_coords(torch.device(device))
        if self.kind == DENSE:
            return kept.long() * self.n_target
        rows = (self._positions_hit(yp, self.out_shape[1]) >= 0).sum(dim=1)
        cols = (self._positions_hit(xp, self.out_shape[2]) >= 0).sum(dim=1)
        return kept.long() * rows * cols * self.out_shape[0]

    def synapse_table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv only: ``(targets, weight_index)``, both ``[n_source, C_out*K*K]`` long. Entry
        ``m`` of source ``j`` is the target neuron (index within the target layer, or
        ``n_target`` for none) and the index into ``weight.flatten()`` of the synapse."""
        assert self.kind == CONV, "dense projections need no table"
        ch, yp, xp, kept = self._source_coords(device)
        c_out, h_out, w_out = self.out_shape
        k = self.kernel
        oy = self._positions_hit(yp, h_out)[:, :, None].expand(-1, k, k)  # [n, ky, kx]
        ox = self._positions_hit(xp, w_out)[:, None, :].expand(-1, k, k)
        co = torch.arange(c_out, device=device)[None, :, None, None]
        ok = (kept[:, None, None] & (oy >= 0) & (ox >= 0))[:, None]  # [n, 1, ky, kx]
        target = (co * h_out + oy[:, None]) * w_out + ox[:, None]
        target = torch.where(ok, target, self.n_target)
        ky = torch.arange(k, device=device)[None, None, :, None]
        kx = torch.arange(k, device=device)[None, None, None, :]
        widx = ((co * self.in_shape[0] + ch[:, None, None, None]) * k + ky) * k + kx
        widx = torch.where(ok, widx, 0)
        return target.reshape(self.n_source, -1), widx.reshape(self.n_source, -1)


def _fail(name: str, value: object, why: str) -> ValueError:
    return ValueError(f"{name}: {why}, got {value!r}")


def _positive(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(name, value, f"expected an int >= {minimum}")
    return value


def input_shape(value: object) -> Shape:
    """``n_in`` (an int) or ``(C, H, W)`` → ``(C, H, W)``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (_positive("sizes[0]", value), 1, 1)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3:
        return tuple(_positive("sizes[0]", v) for v in value)  # type: ignore[return-value]
    raise _fail("sizes[0]", value, "expected n_in or an input shape (C, H, W)")


def _conv_shape(spec: Conv, below: Shape, where: str) -> Shape:
    _positive(f"{where}.channels", spec.channels)
    _positive(f"{where}.kernel", spec.kernel)
    _positive(f"{where}.stride", spec.stride)
    _positive(f"{where}.padding", spec.padding, 0)
    _positive(f"{where}.pool", spec.pool)
    _, h, w = below
    h, w = h // spec.pool, w // spec.pool
    out_h = (h + 2 * spec.padding - spec.kernel) // spec.stride + 1
    out_w = (w + 2 * spec.padding - spec.kernel) // spec.stride + 1
    if out_h < 1 or out_w < 1:
        raise _fail(where, spec, f"the kernel does not fit the {below} map below")
    return (spec.channels, out_h, out_w)


def build(shape_in: Shape, specs: Sequence[LayerSpec]) -> tuple[list[Shape], list[Projection]]:
    """Layer shapes and projections (chain first, in layer order, then the extra ones)."""
    shapes: list[Shape] = [shape_in]
    chain: list[Projection] = []
    extra: list[tuple[int, int]] = []
    for i, spec in enumerate(specs):
        where = f"sizes[{i + 1}]"
        below = shapes[-1]
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = Dense(spec)
        if isinstance(spec, Dense):
            _positive(where, spec.size)
            _positive(f"{where}.pool", spec.pool)
            if spec.pool > 1 and below[1] // spec.pool < 1:
                raise _fail(where, spec, f"pooling empties the {below} map below")
            out: Shape = (spec.size, 1, 1)
            chain.append(Projection(len(shapes) - 1, len(shapes), DENSE, below, out,
                                    pool=spec.pool))
            if spec.recurrent:
                extra.append((len(shapes), len(shapes)))
        elif isinstance(spec, Conv):
            out = _conv_shape(spec, below, where)
            chain.append(Projection(len(shapes) - 1, len(shapes), CONV, below, out, spec.kernel,
                                    spec.stride, spec.padding, spec.pool))
        elif isinstance(spec, Link):
            extra.append((spec.source, spec.target))
            continue
        else:
            raise _fail(where, spec, "expected an int, Dense, Conv or Link")
        shapes.append(out)
    if len(shapes) < 2:
        raise _fail("sizes", list(specs), "expected at least one neuron layer")
    projections = list(chain)
    for source, target in extra:
        if not (0 <= source < len(shapes) and 1 <= target < len(shapes)):
            raise _fail("link", (source, target), f"layers are 0 (input) .. {len(shapes) - 1}")
        projections.append(Projection(source, target, DENSE, shapes[source], shapes[target]))
    return shapes, projections


_TOKEN = re.compile(r"^\s*(conv|fc|link)\s*\(([^()]*)\)\s*$")
_OPTION = re.compile(r"^(s|p|pool)(\d+)$")


def _parse_token(token: str) -> LayerSpec:
    match = _TOKEN.match(token)
    if match is None:
        raise _fail("arch", token, "expected conv(C,K[,sS][,pP][,poolQ]), fc(N[,rec][,poolQ]) "
                    "or link(S,T)")
    kind, body = match.groups()
    args = [a.strip() for a in body.split(",") if a.strip()]
    numbers = [int(a) for a in args if a.isdigit()]
    options = {}
    flags = set()
    for arg in args:
        if arg.isdigit():
            continue
        opt = _OPTION.match(arg)
        if opt:
            options[opt.group(1)] = int(opt.group(2))
        else:
            flags.add(arg)
    allowed = {"conv": ({"s", "p", "pool"}, set(), 2), "fc": ({"pool"}, {"rec"}, 1),
               "link": (set(), set(), 2)}[kind]
    if set(options) - allowed[0] or flags - allowed[1] or len(numbers) != allowed[2]:
        raise _fail("arch", token, f"bad arguments for {kind}")
    if kind == "conv":
        return Conv(numbers[0], numbers[1], options.get("s", 1), options.get("p", 0),
                    options.get("pool", 1))
    if kind == "fc":
        return Dense(numbers[0], "rec" in flags, options.get("pool", 1))
    return Link(numbers[0], numbers[1])


def parse_arch(arch: str | Sequence[str | int | dict]) -> list[LayerSpec]:
    """``"conv(8,3,s2)-conv(16,3,s2,p1)-fc(10)"`` or a YAML list of such tokens, ints (dense
    layers) or mappings like ``{conv: 8, kernel: 3, stride: 2}`` → layer specs."""
    items = arch.split("-") if isinstance(arch, str) else list(arch)
    specs: list[LayerSpec] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            specs.append(Dense(item))
        elif isinstance(item, str):
            specs.append(_parse_token(item))
        elif isinstance(item, dict):
            specs.append(_from_mapping(item))
        else:
            raise _fail("arch", item, "expected a token string, an int or a mapping")
    if not specs:
        raise _fail("arch", arch, "expected at least one layer")
    return specs


def _from_mapping(item: dict) -> LayerSpec:
    fields = dict(item)
    try:
        if "conv" in fields:
            channels = fields.pop("conv")
            return Conv(channels, **fields)
        if "fc" in fields:
            return Dense(fields.pop("fc"), **fields)
        if "link" in fields:
            source, target = fields.pop("link")
            if fields:
                raise TypeError(f"unexpected {sorted(fields)}")
            return Link(source, target)
    except (TypeError, ValueError) as err:
        raise _fail("arch", item, str(err)) from None
    raise _fail("arch", item, "expected a mapping with one of conv, fc, link")

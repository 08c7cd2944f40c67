"""NIR interchange: ``from_nir`` and ``to_nir`` (docs/semantics.md#nir-interchange, docs/nir.md).

Needs the optional ``nir`` package (``pip install 'asyncsim[nir]'``); ``import asyncsim`` does
not, it reaches this package only when ``asyncsim.from_nir`` or ``asyncsim.to_nir`` is used.
"""

from __future__ import annotations

try:
    import nir  # noqa: F401 - only to fail early with the way to install it
except ImportError as err:
    raise ImportError(
        "asyncsim's NIR interchange needs the nir package: pip install 'asyncsim[nir]'"
    ) from err

from .nir_export import to_nir
from .nir_import import from_nir, read_graph

__all__ = ["from_nir", "read_graph", "to_nir"]

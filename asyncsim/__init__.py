"""asyncsim: asynchronous spiking neural networks and unlayered backprop.

The behaviour is specified in docs/semantics.md. Public API: ``Network`` (with ``Conv``,
``Dense``, ``Link`` layers), ``simulate``, ``SimResult``, ``Records`` and the metrics in
``asyncsim.metrics``; ``from_nir`` and ``to_nir`` (NIR interchange, with the optional ``nir``
package).

The names are imported on first use, so that ``import asyncsim.cli`` (the command line and its
``--help``) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"
_EXPORTS = {"Conv": "architecture", "Dense": "architecture", "Link": "architecture",
            "Network": "network", "Records": "result", "SimResult": "result",
            "Surrogate": "surrogates", "simulate": "simulate",
            "from_nir": "interchange", "to_nir": "interchange"}
# The NIR names need the optional nir package: `from asyncsim import *` must not import it.
__all__ = [*sorted(set(_EXPORTS) - {"from_nir", "to_nir"}), "__version__"]


class _Package(types.ModuleType):
    """The package module, loading its public names lazily."""

    def __getattr__(self, name: str) -> object:
        if name not in _EXPORTS:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{self.__name__}.{_EXPORTS[name]}"), name)
        setattr(self, name, value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        # Importing the submodule ``asyncsim.simulate`` binds its name on the package; the
        # public name ``asyncsim.simulate`` is the function, as with an eager import.
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_EXPORTS})


sys.modules[__name__].__class__ = _Package

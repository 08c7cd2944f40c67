"""asyncsim: asynchronous spiking neural networks and unlayered backprop.

The behaviour is specified in docs/semantics.md. Public API: ``Network`` (with ``Conv``,
``Dense``, ``Link`` layers), ``simulate``, ``SimResult``, ``Records`` and the metrics in
``asyncsim.metrics``.
"""

from .architecture import Conv, Dense, Link
from .network import Network
from .result import Records, SimResult
from .simulate import simulate
from .surrogates import Surrogate

__version__ = "0.1.0"
__all__ = ["Conv", "Dense", "Link", "Network", "Records", "SimResult", "Surrogate", "simulate",
           "__version__"]

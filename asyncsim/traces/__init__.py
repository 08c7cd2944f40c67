"""HDF5 spike traces readable by SONATA tools (docs/traces.md).

``TraceWriter`` streams the fire records of a run into one file, batch by batch; ``load``
reads it back as a ``Trace`` (numpy columns per layer, labels, predictions, metadata);
``summary`` and ``plot_raster`` inspect it.
"""

from .reader import LayerSpikes, Trace, TraceError, load
from .report import plot_raster, summary
from .writer import TraceWriter

__all__ = ["LayerSpikes", "Trace", "TraceError", "TraceWriter", "load", "plot_raster",
           "summary"]

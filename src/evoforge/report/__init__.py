"""A run's report: one self-contained HTML page with plots (``evoforge report``).

See `evoforge.report.build`; domains show their best genome through
`evoforge.report.genomes.register_renderer`.
"""

from evoforge.report.build import build_report, write_report
from evoforge.report.genomes import RenderedGenome, register_renderer

__all__ = ["RenderedGenome", "build_report", "register_renderer", "write_report"]

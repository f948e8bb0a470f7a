"""The best genome as a report shows it: text (code or formula) and figures.

A renderer is registered per domain name and receives the genome's stored
text and the run's domain table (``config.toml``'s ``[<domain>]``); it parses
what it needs itself, so a report never builds the domain (which may load data
sets or compile kernels). Built in: ``automl_zero`` (the program as code),
``activations`` (the formula and a plot of its curve), ``architectures`` (the
network as a diagram). Any other domain, a plugin's included, gets its genome
text; a plugin may `register_renderer` its own.

Example:
    >>> shown = render_genome("toy", "0110", {})
    >>> shown.title, shown.text, shown.figures
    ('Genome', '0110', [])
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoforge.report.plots import figure_png

log = logging.getLogger(__name__)


@dataclass
class RenderedGenome:
    """``text`` shown as a code block (``language`` is a label only); each
    figure a (caption, PNG bytes) pair; ``notes`` lines above the text."""

    title: str
    text: str
    language: str = "text"
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Renderer = Callable[[str, Mapping[str, Any]], RenderedGenome]
_RENDERERS: dict[str, Renderer] = {}


def register_renderer(domain: str, renderer: Renderer) -> None:
    """Show the best genome of ``domain`` runs with ``renderer(text, table)``."""
    _RENDERERS[domain] = renderer


def render_genome(domain: str, text: str, table: Mapping[str, Any]) -> RenderedGenome:
    """The domain's rendering of ``text``; the plain text if the domain has no
    renderer or its renderer fails (a report must never fail for a figure)."""
    renderer = _RENDERERS.get(domain)
    if renderer is not None:
        try:
            return renderer(text, table)
        except Exception as exc:  # a renderer's failure costs its figure, not the report
            log.warning("rendering the %s genome failed: %s", domain, exc)
            shown = RenderedGenome("Genome", text)
            shown.notes.append(f"(the {domain} renderer failed: {type(exc).__name__}: {exc})")
            return shown
    return RenderedGenome("Genome", text)


def _automl_zero(text: str, table: Mapping[str, Any]) -> RenderedGenome:
    # The stored text is the program as the papers print it: Setup, Predict, Learn.
    return RenderedGenome("Program", text.strip(), language="automl-zero")


def _activations(text: str, table: Mapping[str, Any]) -> RenderedGenome:
    import torch

    from evoforge.activations.graph import evaluate, parse

    node = parse(text)
    x = torch.linspace(-5.0, 5.0, 401)
    with torch.no_grad():
        y = evaluate(node, x)  # parameters at their initial value, 1

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ax.plot(x.numpy(), y.numpy(), color="#1f5fa8", lw=2, label="f(x)")
        ax.axhline(0, color="#999", lw=0.6)
        ax.axvline(0, color="#999", lw=0.6)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.set_title(text if len(text) < 60 else text[:57] + "...", fontsize=9)

    shown = RenderedGenome("Activation function", text.strip(), language="formula")
    if node.n_params:
        shown.notes.append(f"{node.n_params} trainable parameters, plotted at 1")
    shown.figures.append(("the function on [-5, 5]", figure_png(draw, (5.5, 3.6))))
    return shown


def _architectures(text: str, table: Mapping[str, Any]) -> RenderedGenome:
    from evoforge.architectures import export
    from evoforge.nn.data import IMAGE_SHAPES

    with tempfile.TemporaryDirectory() as tmp:
        picture = Path(tmp) / "architecture.png"
        if table.get("space", "dna") == "blocks":
            from evoforge.architectures.lamarckian.genome import BlockSpace

            export.draw_blocks(BlockSpace().from_text(text), picture)
        else:
            from evoforge.architectures.dna import from_text

            shape = IMAGE_SHAPES[str(table.get("dataset", "digits"))]
            export.draw_dna(from_text(text), shape, picture)
        png = picture.read_bytes()
    shown = RenderedGenome("Architecture", text.strip(), language="architecture")
    shown.figures.append(("the network, input at the top", png))
    return shown


register_renderer("automl_zero", _automl_zero)
register_renderer("activations", _activations)
register_renderer("architectures", _architectures)

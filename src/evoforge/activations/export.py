"""Export a found activation function: its formula, its sympy form and a standalone PyTorch module.

`export_source` writes a self-contained Python file (torch only, no evoforge)
defining ``EvolvedActivation``: the genome unrolled into straight-line tensor
code, each learnable parameter a per-layer scalar or, with ``channels``, a
per-channel vector initialised to 1 (load trained values with
``load_state_dict``; the names match `evoforge.activations.Activation`'s
``weights.0``, ``weights.1``, ...). The module is TorchScript-compatible.
`export_run` writes ``activation.py``, ``formula.txt`` and ``sympy.txt`` for an
activations run's best function (``evoforge export RUN_DIR``).

Example:
    >>> from evoforge.activations.formula import parse
    >>> src = export_source(parse("alpha*x * sigmoid(x)"))
    >>> namespace: dict = {}
    >>> exec(compile(src, "activation.py", "exec"), namespace)
    >>> act = namespace["EvolvedActivation"]()
    >>> import torch
    >>> round(act(torch.tensor([1.0])).item(), 4)
    0.7311
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import sympy as sp

from evoforge.activations import operators as ops
from evoforge.activations.expr import Node
from evoforge.activations.graph import (
    OUTPUT_EDGE,
    Edge,
    Graph,
    as_graph,
    param_edges,
    to_sympy,
    to_text,
)
from evoforge.activations.graph import parse as parse_graph
from evoforge.errors import EvoforgeError

# Each operator as Python source over its inputs a (and b); helpers named here
# are copied into the file from `evoforge.activations.operators`.
TORCH_SOURCE: dict[str, str] = {
    "zero": "torch.zeros_like(a)",
    "one": "torch.ones_like(a)",
    "identity": "a",
    "neg": "-a",
    "abs": "torch.abs(a)",
    "reciprocal": "_safe_div(torch.ones_like(a), a)",
    "square": "a * a",
    "cube": "a * a * a",
    "sqrt": "torch.sqrt(torch.abs(a))",
    "exp": "torch.exp(a)",
    "exp_neg_square": "torch.exp(-a * a)",
    "softplus": "F.softplus(a)",
    "log_abs_eps": "torch.log(torch.abs(a + EPS))",
    "sin": "torch.sin(a)",
    "sinh": "torch.sinh(a)",
    "arcsinh": "torch.asinh(a)",
    "cos": "torch.cos(a)",
    "cosh": "torch.cosh(a)",
    "tanh": "torch.tanh(a)",
    "arctan": "torch.atan(a)",
    "relu": "torch.relu(a)",
    "min_zero": "torch.clamp(a, max=0.0)",
    "sigmoid": "torch.sigmoid(a)",
    "erf": "torch.erf(a)",
    "erfc": "torch.erfc(a)",
    "sinc": "_sinc(a)",
    "expm1": "torch.expm1(a)",
    "log_sigmoid": "F.logsigmoid(a)",
    "elu": "F.elu(a)",
    "selu": "F.selu(a)",
    "swish": "F.silu(a)",
    "softsign": "F.softsign(a)",
    "hard_sigmoid": "torch.clamp(0.2 * a + 0.5, 0.0, 1.0)",
    "bessel_i0e": "torch.special.i0e(a)",
    "bessel_i1e": "torch.special.i1e(a)",
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "_safe_div(a, b)",
    "div_eps": "_safe_div(a, b + EPS)",
    "pow": "_safe_pow(a, b)",
    "max": "torch.maximum(a, b)",
    "min": "torch.minimum(a, b)",
}
# As format templates: the inputs are the whole words a and b.
_TEMPLATES = {
    k: re.sub(r"\bb\b", "{b}", re.sub(r"\ba\b", "{a}", v)) for k, v in TORCH_SOURCE.items()
}
_HELPERS = {"_safe_div": ops._safe_div, "_safe_pow": ops._safe_pow, "_sinc": ops._sinc}


class ExportError(EvoforgeError, ValueError):
    """A genome with an operator the exporter has no source for."""


def export_source(genome: Graph | Node) -> str:
    """A standalone PyTorch module file computing `genome` (see the module docstring);
    a shared graph node is computed once.

    Example:
        >>> from evoforge.activations.graph import parse
        >>> "torch.tanh(" in export_source(parse("h1 = tanh(x); h1 * h1"))
        True
    """
    g = as_graph(genome)
    lines: list[str] = []
    n_params = g.n_params
    index = {edge: i for i, edge in enumerate(param_edges(g))}
    used: set[str] = set()

    def read(edge: Edge) -> str:
        value = f"v{g.source(edge)}" if g.source(edge) else "x"
        if edge not in index:
            return value
        return f"{value} * self._scale(self.p{index[edge]}, x)"

    for k, node in enumerate(g.nodes, 1):
        if node.op not in TORCH_SOURCE:
            raise ExportError(f"operator {node.op!r} has no PyTorch source to export")
        code = _TEMPLATES[node.op]
        used.update(h for h in _HELPERS if h + "(" in code)
        if "EPS" in code:
            used.add("EPS")
        inputs = [f"({read((k, s))})" for s in range(len(node.inputs))]
        lines.append(f"        v{k} = {code.format(a=inputs[0], b=inputs[-1])}")
    result = read((OUTPUT_EDGE, 0))
    helpers = "\n\n".join(inspect.getsource(_HELPERS[h]) for h in _HELPERS if h in used)
    params = "\n".join(
        f"        self.p{i} = nn.Parameter(torch.ones(shape))" for i in range(n_params)
    )
    return _TEMPLATE.format(
        formula=to_text(g),
        sympy=sp.sstr(to_sympy(g)),
        eps=f"EPS = {ops.EPS!r}\n\n\n" if "EPS" in used else "",
        helpers=(helpers + "\n\n") if helpers else "",
        params=params or "        pass",
        body="\n".join(lines),
        result=result,
        n_params=n_params,
    )


_TEMPLATE = '''"""An activation function found by evoforge: {formula}

sympy: {sympy}

Standalone: needs only PyTorch. Parameters (initialised to 1) are per layer,
or per channel (dimension 1 of the input) when ``channels`` is given; their
state_dict names match evoforge's Activation (weights.0, weights.1, ...).
"""

import torch
import torch.nn.functional as F
from torch import nn

{eps}{helpers}
class EvolvedActivation(nn.Module):
    """{formula}"""

    def __init__(self, channels: int = 0) -> None:
        super().__init__()
        self.channels = channels
        shape = (channels,) if channels > 0 else ()
{params}

    def _scale(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.channels > 0:
            view = [1] * x.dim()
            view[1] = -1
            return p.view(view)
        return p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
{body}
        return {result}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore
        for i in range({n_params}):  # evoforge's names: weights.i
            key = prefix + "weights." + str(i)
            if key in state_dict:
                state_dict[prefix + "p" + str(i)] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
'''


def export_run(run_dir: Path, out: Path, best_text: str) -> list[Path]:
    """Write ``activation.py``, ``formula.txt`` and ``sympy.txt`` for a run's best function.

    `best_text` is the run's ``best.txt`` (comment lines are skipped).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> [p.name for p in export_run(out, out / "export", "# best\\nrelu(x) + x\\n")]
        ['formula.txt', 'sympy.txt', 'activation.py']
    """
    text = "\n".join(
        line for line in best_text.splitlines() if line.strip() and not line.startswith("#")
    )
    genome = parse_graph(text.strip())
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "formula.txt": to_text(genome) + "\n",
        "sympy.txt": sp.sstr(to_sympy(genome)) + "\n" + sp.latex(to_sympy(genome)) + "\n",
        "activation.py": export_source(genome),
    }
    written = []
    for name, content in files.items():
        path = out / name
        path.write_text(content)
        written.append(path)
    return written

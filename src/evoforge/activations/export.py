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
from evoforge.activations.expr import Node, X
from evoforge.activations.formula import to_sympy, to_text
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


def export_source(genome: Node) -> str:
    """A standalone PyTorch module file computing `genome` (see the module docstring).

    Example:
        >>> from evoforge.activations.formula import parse
        >>> "torch.tanh(" in export_source(parse("tanh(x)"))
        True
    """
    lines: list[str] = []
    counter = iter(range(10**6))
    n_params = genome.n_params
    param_index = iter(range(n_params))
    used: set[str] = set()

    def rec(n: Node) -> str:
        index = next(param_index) if n.param else None
        if isinstance(n, X):
            value = "x"
        else:
            if n.op not in TORCH_SOURCE:
                raise ExportError(f"operator {n.op!r} has no PyTorch source to export")
            inputs = [rec(c) for c in n.children]
            code = _TEMPLATES[n.op]
            used.update(h for h in _HELPERS if h + "(" in code)
            if "EPS" in code:
                used.add("EPS")
            code = code.format(a=inputs[0], b=inputs[-1])
            value = f"v{next(counter)}"
            lines.append(f"        {value} = {code}")
        if index is not None:
            scaled = f"v{next(counter)}"
            lines.append(f"        {scaled} = {value} * self._scale(self.p{index}, x)")
            value = scaled
        return value

    result = rec(genome)
    helpers = "\n\n".join(inspect.getsource(_HELPERS[h]) for h in _HELPERS if h in used)
    params = "\n".join(
        f"        self.p{i} = nn.Parameter(torch.ones(shape))" for i in range(n_params)
    )
    return _TEMPLATE.format(
        formula=to_text(genome),
        sympy=sp.sstr(to_sympy(genome)),
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
    from evoforge.activations.formula import parse

    text = "\n".join(
        line for line in best_text.splitlines() if line.strip() and not line.startswith("#")
    )
    genome = parse(text.strip())
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

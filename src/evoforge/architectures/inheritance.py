"""Weight inheritance by name and shape, and the weight files (safetensors).

Large-Scale Evolution keeps a layer's weights whenever its shape still
matches (§3.6): the identity and learning-rate mutations keep everything,
reset-weights keeps nothing, and e.g. the filter-size mutation discards only
the mutated filter. Since tensor names follow the DNA's permanent vertex and
edge ids (`evoforge.architectures.model`), "the same layer" is "the same
name", and `inherit_matching` copies every parent tensor whose name and shape
the child shares. BN running statistics are buffers in the state dict, so they
travel too.

Weights are stored as ``weights.safetensors`` in the individual's artefact
directory (never pickle).

Example:
    >>> import tempfile, pathlib, torch
    >>> from torch import nn
    >>> path = pathlib.Path(tempfile.mkdtemp()) / WEIGHTS_FILE
    >>> save_weights(nn.Linear(3, 2), path)
    >>> child = nn.Linear(3, 2)
    >>> inherit_matching(child, load_weights(path))
    (['bias', 'weight'], [])
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS_FILE = "weights.safetensors"


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Every parameter and buffer of ``model`` (on the CPU, contiguous) to ``path``."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (safetensors: no code runs on load)."""
    return load_file(str(path))


def parent_weights(directory: Path | None) -> dict[str, torch.Tensor] | None:
    """The weights in a parent's artefact directory, or None when it left none
    (a failed evaluation, or a parent whose files were collected)."""
    if directory is None or not (directory / WEIGHTS_FILE).is_file():
        return None
    return load_weights(directory / WEIGHTS_FILE)


def inherit_matching(
    model: nn.Module, parent: Mapping[str, torch.Tensor], allowed: set[str] | None = None
) -> tuple[list[str], list[str]]:
    """Copy into ``model`` each parent tensor with the same name and shape
    (only names in ``allowed`` when given). Returns the sorted names kept and
    those left at their fresh initialisation."""
    state = model.state_dict()
    kept, fresh = [], []
    with torch.no_grad():
        for name, tensor in state.items():
            source = parent.get(name)
            if (
                source is not None
                and source.shape == tensor.shape
                and (allowed is None or name in allowed)
            ):
                tensor.copy_(source.to(tensor.dtype))
                kept.append(name)
            else:
                fresh.append(name)
    return sorted(kept), sorted(fresh)

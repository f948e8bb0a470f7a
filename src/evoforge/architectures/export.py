"""Export a found architecture: standalone PyTorch source, its trained weights, a picture.

`export_run` reads a run directory's ``best.txt`` (genome and id) and the
best individual's ``weights.safetensors`` from the artefact store, and writes
into an output directory:

* ``model.py``: a module with ``EvolvedNet`` (plain PyTorch, no evoforge
  import) and ``load(path)`` returning it with the weights loaded;
* ``weights.safetensors``: the trained weights (names match ``EvolvedNet``);
* ``architecture.png``: the graph drawn with matplotlib (no graphviz).

Example:
    >>> import torch
    >>> from evoforge.architectures.dna import Edge, add_vertex_after, linear_dna
    >>> dna = add_vertex_after(linear_dna(), 0, Edge(0, 0, 0, "conv", channels=4.0), "bn_relu")
    >>> namespace = {}
    >>> exec(dna_source(dna, (1, 8, 8), 10), namespace)
    >>> namespace["EvolvedNet"]()(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 10])
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path

from evoforge.architectures import dna as dna_mod
from evoforge.architectures.dna import DNA
from evoforge.architectures.inheritance import WEIGHTS_FILE
from evoforge.architectures.lamarckian.genome import BlockGenome, BlockSpace
from evoforge.architectures.model import vertex_shapes
from evoforge.config import ConfigError
from evoforge.errors import EvoforgeError

_HEADER = '''"""{title}

Exported by evoforge. Plain PyTorch: ``model = load("weights.safetensors")``.

{genome}
"""

import torch
import torch.nn.functional as F
from torch import nn

'''

_LOAD = '''

def load(path="weights.safetensors"):
    """EvolvedNet with the trained weights of ``path``, in eval mode."""
    from safetensors.torch import load_file

    model = EvolvedNet()
    model.load_state_dict(load_file(str(path)))
    return model.eval()
'''


def _quote(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def dna_source(dna: DNA, in_shape: Sequence[int], num_classes: int) -> str:
    """Standalone source of a Large-Scale Evolution network (same tensor names as `DNANet`)."""
    shapes = vertex_shapes(dna, in_shape)
    convs, norms, body = [], [], []
    v0 = dna.vertices[0].id
    body.append(f"        v{v0} = x")
    for i, v in enumerate(dna.vertices[1:], 1):
        e = dna.primary_into(v.id)
        c, h, w = shapes[i]
        if e.kind == "conv":
            kh, kw = e.kernel
            convs.append(
                f'            "e{e.id}": nn.Conv2d({shapes[i - 1][0]}, {c}, ({kh}, {kw}), '
                f"stride={e.stride}, padding=({kh // 2}, {kw // 2})),"
            )
            body.append(f'        v{v.id} = self.convs["e{e.id}"](v{e.src})')
        else:
            body.append(f"        v{v.id} = v{e.src}")
        for skip in dna.skips_into(v.id):
            body.append(f"        v{v.id} = v{v.id} + _resolve(v{skip.src}, {c}, {h}, {w})")
        if v.activation == "bn_relu":
            norms.append(f'            "v{v.id}": nn.BatchNorm2d({c}),')
            body.append(f'        v{v.id} = F.relu(self.norms["v{v.id}"](v{v.id}))')
    last = dna.vertices[-1].id
    features = math.prod(shapes[-1])
    lines = [
        _HEADER.format(
            title="A network found by Large-Scale Evolution.", genome=_quote(dna_mod.to_text(dna))
        ),
        "def _resolve(x, c, h, w):",
        '    """A skip input resized to (c, h, w): nearest neighbour; channels cut or padded."""',
        "    if x.shape[2:] != (h, w):",
        '        x = F.interpolate(x, size=(h, w), mode="nearest")',
        "    if x.shape[1] > c:",
        "        return x[:, :c]",
        "    return F.pad(x, (0, 0, 0, 0, 0, c - x.shape[1]))",
        "",
        "",
        "class EvolvedNet(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.convs = nn.ModuleDict({",
        *convs,
        "        })",
        "        self.norms = nn.ModuleDict({",
        *norms,
        "        })",
        f"        self.classifier = nn.Linear({features}, {num_classes})",
        "",
        "    def forward(self, x):",
        *body,
        f"        return self.classifier(v{last}.flatten(1))",
    ]
    return "\n".join(lines) + "\n" + _LOAD


def blocks_source(genome: BlockGenome, in_channels: int, num_classes: int) -> str:
    """Standalone source of a Lamarckian NAS network (same tensor names as `BlockNet`)."""
    blocks, c = [], in_channels
    for b in genome.blocks:
        blocks.append(f'            "b{b.id}": Block({c}, {b.channels}, {b.kernel}, {b.stride}),')
        c = b.channels
    lines = [
        _HEADER.format(
            title="A network found by Lamarckian NAS.", genome=_quote(BlockSpace().to_text(genome))
        ),
        "class Block(nn.Module):",
        "    def __init__(self, c_in, c_out, kernel, stride):",
        "        super().__init__()",
        "        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)",
        "        self.bn = nn.BatchNorm2d(c_out)",
        "",
        "    def forward(self, x):",
        "        return torch.relu(self.bn(self.conv(x)))",
        "",
        "",
        "class EvolvedNet(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.blocks = nn.ModuleDict({",
        *blocks,
        "        })",
        f"        self.dense = nn.Linear({c}, {num_classes})",
        "",
        "    def forward(self, x):",
        "        for block in self.blocks.values():",
        "            x = block(x)",
        "        return self.dense(x.mean(dim=(2, 3)))",
    ]
    return "\n".join(lines) + "\n" + _LOAD


def draw(
    labels: Sequence[str],
    edge_labels: Sequence[str],
    skips: Sequence[tuple[int, int]],
    path: Path,
    title: str = "",
) -> None:
    """A top-to-bottom picture: one box per vertex, the backbone edges labelled
    between them, skips as arcs on the right. Saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    n = len(labels)
    fig, ax = plt.subplots(figsize=(5, max(2.0, 0.9 * n)))
    for i, label in enumerate(labels):
        box = {"boxstyle": "round", "facecolor": "#dde8f5", "edgecolor": "#335"}
        ax.text(0, -i, label, ha="center", va="center", fontsize=8, bbox=box)
        if i:
            ax.annotate("", xy=(0, -i + 0.18), xytext=(0, -i + 0.82),
                        arrowprops={"arrowstyle": "->", "color": "#333"})  # fmt: skip
            ax.text(0.08, -i + 0.5, edge_labels[i - 1], fontsize=7, va="center", color="#633")
    for src, dst in skips:
        ax.add_patch(FancyArrowPatch((0.45, -src), (0.45, -dst), connectionstyle="arc3,rad=-0.4",
                                     arrowstyle="->", color="#a44", mutation_scale=10))  # fmt: skip
    ax.set_xlim(-1.2, 1.6)
    ax.set_ylim(-n + 0.4, 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_dna(dna: DNA, in_shape: Sequence[int], path: Path, title: str = "") -> None:
    shapes = vertex_shapes(dna, in_shape)
    names = {"input": "input", "bn_relu": "BN + ReLU", "linear": "linear"}
    labels = [
        f"{names[v.activation]}  {'x'.join(map(str, s))}"
        for v, s in zip(dna.vertices, shapes, strict=True)
    ]
    edge_labels = []
    for v in dna.vertices[1:]:
        e = dna.primary_into(v.id)
        if e.kind == "conv":
            kh, kw = e.kernel
            edge_labels.append(f"conv {kh}x{kw} /{e.stride} c{e.out_channels}")
        else:
            edge_labels.append("identity")
    position = {v.id: i for i, v in enumerate(dna.vertices)}
    skips = [(position[e.src], position[e.dst]) for e in dna.skips]
    draw([*labels, "dense"], [*edge_labels, "flatten"], skips, path, title)


def draw_blocks(genome: BlockGenome, path: Path, title: str = "") -> None:
    labels = ["input"] + [f"BN + ReLU  c{b.channels}" for b in genome.blocks] + ["dense"]
    edges = [f"conv {b.kernel}x{b.kernel} /{b.stride}" for b in genome.blocks] + ["avg pool"]
    draw(labels, edges, [], path, title)


def _best(run_dir: Path) -> tuple[int, str]:
    best = run_dir / "best.txt"
    if not best.is_file():
        raise EvoforgeError(f"{best}: missing; the run has no best individual yet")
    header, _, body = best.read_text().partition("\n\n")
    for line in header.splitlines():
        if line.startswith("# id:"):
            return int(line.split(":")[1]), body
    raise EvoforgeError(f"{best}: no '# id:' line")


def export_run(run_dir: Path, out: Path, domain_table: dict) -> list[Path]:
    """Write model.py, weights.safetensors and architecture.png for the run's
    best individual into ``out``; returns the paths written."""
    from evoforge.architectures.domain import build_architectures

    try:
        setup = build_architectures(domain_table, "architectures", 0)
    except ConfigError:
        raise
    best_id, text = _best(Path(run_dir))
    genome = setup.space.from_text(text)
    weights = Path(run_dir) / "artefacts" / str(best_id) / WEIGHTS_FILE
    if not weights.is_file():
        raise EvoforgeError(f"{weights}: missing; the best individual's weights were not kept")
    data = setup.evaluator.data
    from evoforge.nn.data import IMAGE_SHAPES, NUM_CLASSES

    in_shape, classes = IMAGE_SHAPES[data.dataset], NUM_CLASSES[data.dataset]
    out.mkdir(parents=True, exist_ok=True)
    picture = out / "architecture.png"
    title = f"best of {run_dir} (id {best_id})"
    if isinstance(genome, DNA):
        source = dna_source(genome, in_shape, classes)
        draw_dna(genome, in_shape, picture, title)
    else:
        source = blocks_source(genome, in_shape[0], classes)
        draw_blocks(genome, picture, title)
    (out / "model.py").write_text(source)
    shutil.copyfile(weights, out / WEIGHTS_FILE)
    return [out / "model.py", out / WEIGHTS_FILE, picture]

"""Architecture evolution with weight inheritance.

Two systems share this package:

* Large-Scale Evolution (Real et al., 2017): a DNA graph whose vertices are
  activations and whose edges are convolutions or identities (`dna`), the 11
  mutations (`mutations`), a model built from the DNA with shape resolution at
  vertices (`model`), inheritance of every tensor whose shape still matches
  (`inheritance`) and an evaluator that trains a fixed number of SGD steps
  (`evaluator`).
* Lamarckian NAS (Prellberg, ch. 7): a linear stack of conv-BN-ReLU blocks
  with six weighted mutations and exact inheritance rules
  (`evoforge.architectures.lamarckian`).

`domain` registers both as ``run.domain = "architectures"`` (``space = "dna"``
or ``"blocks"``); `export` writes the best model as standalone PyTorch source
plus weights and a picture.

Example:
    >>> from evoforge.architectures.dna import linear_dna
    >>> linear_dna().learning_rate
    0.1
"""

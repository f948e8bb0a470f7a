"""Evolving network weights (Prellberg, seed 003, chapters 5, 6 and 8).

Population-batched weight evolution, the GA for Atari and learned weight sharing:

- `evoforge.weights.batched`: a population of MLPs as stacked weight tensors,
  every member scored on the same batch in one batched forward pass (CPU or CUDA).
- `evoforge.weights.population_ea`: chapter 5's EA (Algorithm 2: truncation,
  elites, uniform/arithmetic crossover, Gaussian mutation with constant,
  decaying or self-adaptive σ, fitness inheritance) over such a population.
- `evoforge.weights.sharing`: chapter 8's learned weight sharing, a categorical
  NES over which layers several tasks share, alternating with Adam steps.
- `evoforge.weights.domain_ea`, `evoforge.weights.domain_sharing`: both as
  engine domains (store, resume, progress), each a chain of training stages
  (`evoforge.weights.stages`); `evoforge.weights.export` writes the trained
  network as safetensors plus a standalone PyTorch module.
- `evoforge.weights.atari`, `envs`, `policy`: chapter 6's GA for Atari.
"""

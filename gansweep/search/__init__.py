"""Adaptive sweeps on Optuna: the search space from Hydra's sweep syntax, the study (sampler, pruner, storage) and
its budget. Optuna is an optional dependency: it is imported by the modules that need it, never here."""

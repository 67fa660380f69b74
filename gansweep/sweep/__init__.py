"""Sweeps: templates, per-run records, failure isolation and the end-of-sweep comparison table."""

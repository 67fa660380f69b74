"""Launching a sweep's points: the local launcher (a warm-started process per point or fused group, GPU leases,
progress, a record for every point whatever happened to its process) and SLURM through submitit."""

"""gansweep's local Hydra launcher: one warm-started process per grid point, each GPU leased to one point at a time.

Thin by design: the config and the Hydra adapter live here (Hydra discovers launchers in `hydra_plugins`),
the work in `gansweep.launch.local`.
"""

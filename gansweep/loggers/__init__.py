"""Lightning loggers of a run (conf/logger/): CSV curves in the run folder, and a W&B run per grid point."""

from gansweep.loggers.curves import ResumableCSVLogger

__all__ = ["ResumableCSVLogger"]

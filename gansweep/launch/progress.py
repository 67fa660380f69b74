"""Progress of a running sweep: one line per finished point with the running counts, elapsed time and ETA."""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable


def clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts finished points by status; ETA = time per finished point so far x points not yet finished."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.start = clock()
        self.counts: Counter[str] = Counter()

    def finished(self, num: int, status: str, seconds: float, point: str, running: int) -> str:
        """Count one finished point and describe it and the sweep so far in one line."""
        self.counts[status] += 1
        done = sum(self.counts.values())
        elapsed = self.clock() - self.start
        eta = elapsed / done * (self.total - done)
        return (
            f"#{num} {status} ({seconds:.1f} s) {point} | {done}/{self.total} done, "
            f"{self.counts['failed']} failed, {self.counts['diverged']} diverged, {running} running, "
            f"{self.total - done - running} left | elapsed {clock_text(elapsed)}, ETA {clock_text(eta)}"
        )

"""Records the launcher could not write yet (a full disk, an unwritable folder): kept in memory and retried, so that
no write failure takes the launcher or the other points down; at the end, what is still unwritten is listed with
where each point stands, and the sweep exits non-zero."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from gansweep.lock import FolderBusy, hold
from gansweep.record import write_record

log = logging.getLogger(__name__)


class PendingRecords:
    """The launcher's writes of records, by run folder. A record is written only while the launcher holds the folder:
    a folder a live process holds (a point still stopping) is that process's to record."""

    def __init__(self) -> None:
        self.records: Dict[Path, Dict[str, Any]] = {}

    def write(self, run_dir: Path, record: Dict[str, Any]) -> None:
        try:
            lock = hold(run_dir, "the launcher, recording a point that could not", wait_s=0)
        except FolderBusy as busy:
            log.warning(f"{run_dir}: left to the process that holds it, which records it itself ({busy})")
            self.records.pop(run_dir, None)
            return
        except OSError as err:
            return self._keep(run_dir, record, err)
        try:
            write_record(run_dir, record)
            self.records.pop(run_dir, None)
        except OSError as err:
            self._keep(run_dir, record, err)
        finally:
            lock.release()

    def _keep(self, run_dir: Path, record: Dict[str, Any], err: OSError) -> None:
        if run_dir not in self.records:
            log.error(f"{run_dir}: its record cannot be written ({err}); kept in memory, written when it can be")
        self.records[run_dir] = record

    def retry(self) -> None:
        for run_dir, record in list(self.records.items()):
            self.write(run_dir, record)

    def status(self, run_dir: Path) -> Optional[str]:
        record = self.records.get(run_dir)
        return str(record.get("status")) if record is not None else None

    def unwritten(self) -> List[str]:
        """One line per record still unwritten: the folder and where its point stands."""
        return [
            f"{run_dir}: {record.get('status')} ({record.get('error') or 'no error'})"
            for run_dir, record in self.records.items()
        ]

    def finish(self) -> None:
        """Retry once more; a record still unwritten is listed and ends the sweep with exit status 1."""
        self.retry()
        if self.records:
            lines = "\n".join(self.unwritten())
            log.error(f"{len(self.records)} record(s) could not be written; where those points stand:\n{lines}")
            raise SystemExit(1)

"""The -trace_stat file of a run with workers: one merged row per dump.

Every worker dumps as a lone SIPp would (at the start, every ``-fd`` and at the
end) into its pipe instead of a file.  Row n of the file is the merge of the workers'
row n, written as soon as each worker has sent it.  A worker that has finished
(its final message came) takes part in the later rows with its last counts and an
empty period: no calls of its own since, which is the truth.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sipwright.report.sipp_files import TraceStatWriter
from sipwright.report.sipp_stats import Snapshot

__all__ = ["StatRow", "StatRows"]


@dataclass(frozen=True, slots=True)
class StatRow:
    """One dump of one worker, and when it was made."""

    snapshot: Snapshot
    wall: datetime
    mono: float  # CLOCK_MONOTONIC: the same clock in every process of the machine

    def to_message(self) -> dict[str, Any]:
        return {
            "stat_row": self.snapshot.to_dict(),
            "wall": self.wall.isoformat(),
            "mono": self.mono,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> StatRow:
        return cls(
            Snapshot.from_dict(message["stat_row"]),
            datetime.fromisoformat(message["wall"]),
            float(message["mono"]),
        )

    def quiet(self) -> StatRow:
        """The same counts with an empty period: a finished worker in a later row."""
        snapshot = copy.deepcopy(self.snapshot)
        snapshot.reset_period(self.wall, self.mono)
        return StatRow(snapshot, self.wall, self.mono)


@dataclass(slots=True)
class WorkerRows:
    """One worker's rows not yet written (by row number), and its last row."""

    pending: dict[int, StatRow] = field(default_factory=dict)
    received: int = 0
    last: StatRow | None = None
    finished: bool = False  # no more rows will come

    def add(self, row: StatRow) -> None:
        self.pending[self.received] = row
        self.received += 1
        self.last = row


class StatRows:
    """Merges the workers' rows into the -trace_stat file, in order; a row is dropped
    once written, so a long run keeps no history here."""

    def __init__(self, path: Path, workers: int) -> None:
        self.path = path
        self.workers = [WorkerRows() for _ in range(workers)]
        self.written = 0
        self._writer: TraceStatWriter | None = None

    def add(self, worker: int, row: StatRow) -> None:
        self.workers[worker].add(row)

    def finished(self, worker: int) -> None:
        self.workers[worker].finished = True

    def flush(self, *, final: bool = False) -> None:
        """Write every row all workers have sent (``final``: every row any has sent,
        the run being over)."""
        while True:
            number = self.written
            ready = [
                number in worker.pending or worker.finished or final for worker in self.workers
            ]
            if not all(ready) or not any(number in w.pending for w in self.workers):
                return
            parts: list[StatRow] = []
            for worker in self.workers:
                row = worker.pending.pop(number, None)
                if row is not None:
                    parts.append(row)
                elif worker.last is not None:  # finished earlier: no calls since
                    parts.append(worker.last.quiet())
            self._write(parts)

    def _write(self, parts: list[StatRow]) -> None:
        total = Snapshot.merged(row.snapshot for row in parts)
        latest = max(parts, key=lambda row: row.mono)
        if self._writer is None:
            self._writer = TraceStatWriter.for_snapshot(self.path, total)
        self._writer.write(total, latest.wall, latest.mono)
        self.written += 1

    def close(self) -> None:
        self.flush(final=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

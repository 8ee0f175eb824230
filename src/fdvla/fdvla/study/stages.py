"""A resumable pipeline of stages, each a folder that is either finished or not.

A stage is finished when its folder holds `stage.json` with the fingerprint of the parameters it
ran with. The marker is written last and atomically, so an interruption at any point leaves the
stage unfinished and the next run redoes it (a stage may resume its own partial work, as training
does from its checkpoints). A finished stage whose parameters changed is refused rather than
silently mixed with new results.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

MARKER = "stage.json"


class StageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Stage:
    name: str  # also its folder below the study root, e.g. "train/button/fdvla"
    run: Callable[[Path], None]  # does the work inside the given folder
    params: dict = field(default_factory=dict)  # what the result depends on

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.params, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class StageRunner:
    def __init__(self, root, *, redo: Iterable[str] = (), log: Callable[[str], None] = print):
        self.root = Path(root)
        self.redo = tuple(redo)  # name prefixes to run again even if finished
        self.log = log

    def folder(self, stage: Stage) -> Path:
        return self.root / stage.name

    def marker(self, stage: Stage) -> Optional[dict]:
        path = self.folder(stage) / MARKER
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a torn marker means the stage never finished

    def is_done(self, stage: Stage) -> bool:
        if any(stage.name == r or stage.name.startswith(r.rstrip("/") + "/") for r in self.redo):
            return False
        m = self.marker(stage)
        if m is None:
            return False
        if m.get("fingerprint") != stage.fingerprint:
            raise StageError(
                f"stage {stage.name} in {self.folder(stage)} finished with other parameters "
                f"({m.get('params')}); use a new --out folder or --redo {stage.name}")
        return True

    def run(self, stages: list, progress=None) -> dict:
        """Runs every unfinished stage in order; returns {name: 'skipped' | 'ran'}."""
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise StageError("stage names must be unique")
        outcome = {}
        for stage in stages:
            if self.is_done(stage):
                outcome[stage.name] = "skipped"
                self.log(f"[study] {stage.name}: finished earlier, skipped")
            else:
                folder = self.folder(stage)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / MARKER).unlink(missing_ok=True)
                self.log(f"[study] {stage.name}: running")
                t0 = time.monotonic()
                stage.run(folder)
                self._write_marker(stage, time.monotonic() - t0)
                outcome[stage.name] = "ran"
            if progress is not None:
                progress(stage.name)
        return outcome

    def _write_marker(self, stage: Stage, seconds: float) -> None:
        path = self.folder(stage) / MARKER
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"fingerprint": stage.fingerprint, "params": stage.params,
                                   "seconds": round(seconds, 2),
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S")},
                                  indent=1, default=str))
        os.replace(tmp, path)

    def seconds(self, stage_name: str) -> Optional[float]:
        path = self.root / stage_name / MARKER
        try:
            return float(json.loads(path.read_text())["seconds"])
        except (OSError, KeyError, ValueError):
            return None

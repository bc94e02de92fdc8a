"""Per-step metrics: a CSV file (always) and TensorBoard event files (optional).

    log = MetricsLog(run_dir, columns, resume_step=0, tensorboard=False)
    log.write(step, {"loss": ..., "paf1": ..., "lr": ..., "images_per_s": ...}); log.close()

The CSV (`metrics.csv`) has one row per step, flushed as written; resuming at step s keeps the
rows up to s and drops later ones (they belong to the interrupted tail), so the file always
describes one run. TensorBoard scalars go to `run_dir/tensorboard/` through tensorboardX (the
optional extra `jaxpose[tensorboard]`: numpy + protobuf only, no TensorFlow).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text

CSV_NAME = "metrics.csv"


class MetricsLog:
    def __init__(self, run_dir: str | Path, columns: list[str], resume_step: int = 0,
                 tensorboard: bool = False):
        self.path = Path(run_dir) / CSV_NAME
        self.columns = ["step"] + [c for c in columns if c != "step"]
        self._keep_rows_until(resume_step)
        fresh = not self.path.exists()
        self._file = open(self.path, "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")
        if fresh:
            self._csv.writeheader()
            self._file.flush()
        self._tb = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise InputError("TensorBoard logging needs tensorboardX: pip install "
                                 "'jaxpose[tensorboard]' (or drop --tensorboard).") from None
            self._tb = SummaryWriter(logdir=str(Path(run_dir) / "tensorboard"))

    def _keep_rows_until(self, step: int) -> None:
        if not self.path.exists():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        if step == 0 or not rows:
            os.remove(self.path)
            return
        kept = [r for r in rows if int(r["step"]) <= step]
        lines = [",".join(self.columns)] + [",".join(r.get(c, "") for c in self.columns) for r in kept]
        atomic_write_text(self.path, "\n".join(lines) + "\n")

    def write(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **{k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in values.items()}}
        self._csv.writerow(row)
        self._file.flush()
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", float(value), step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()

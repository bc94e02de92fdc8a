"""benchmarks.bench_gpu: rows in priority order, a time budget, the table saved after every row,
and a CPU run that writes the section it would write on a GPU (without touching RESULTS.md)."""

import re

import pytest

import benchmarks.common as common
from benchmarks import bench_gpu
from benchmarks.bench_gpu import Results, Row, plan, run_rows


def test_plan_runs_the_goal_first_and_end_to_end_last():
    rows = plan(["BODY_25", "MOBILENET_THIN"], [1, 8, 32, 128], ["net", "device", "e2e"])
    assert len(rows) == 2 * 4 * 3 and len(set(rows)) == len(rows)
    # the #15 goal (BODY_25's device part, batched) first, largest batch first
    assert rows[:4] == [Row("BODY_25", b, "device") for b in (128, 32, 8, 1)]
    assert [r.stage for r in rows] == ["device"] * 8 + ["net"] * 8 + ["e2e"] * 8
    # end to end: MobileNet-thin (real weights) before BODY_25 (random maps)
    assert rows[16].model == "MOBILENET_THIN" and rows[-1] == Row("BODY_25", 1, "e2e")


def test_plan_keeps_only_the_asked_stages_and_quick_body_net_only():
    assert plan(["MOBILENET_THIN"], [8, 2], ["e2e"]) == [Row("MOBILENET_THIN", 8, "e2e"), Row("MOBILENET_THIN", 2, "e2e")]
    quick = plan(["BODY_25", "MOBILENET_THIN"], [2], list(bench_gpu.STAGES), quick_body_net_only=True)
    assert [(r.model, r.stage) for r in quick] == [
        ("MOBILENET_THIN", "device"), ("BODY_25", "net"), ("MOBILENET_THIN", "net"), ("MOBILENET_THIN", "e2e")]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_budget_stops_new_rows_and_every_row_is_saved_as_it_ends():
    clock = FakeClock()
    rows = plan(["MOBILENET_THIN"], [1, 8, 32], ["device"])  # 32, 8, 1
    saved = []
    results = Results("## Accelerator: test")

    def measure(row):
        clock.now += 40.0  # each row takes 40 s
        if row.batch == 8:
            raise RuntimeError("RESOURCE_EXHAUSTED: out of memory\nlong details")
        return [row.model, "w", "656x368", row.batch, row.stage, "1.0", "2.0", "0.50", "40"]

    run_rows(rows, measure, budget_s=70.0, save=lambda: saved.append(results.section()), results=results, clock=clock)
    # 32 runs (0 s), 8 runs (40 s < 70) and fails, 1 would start at 80 s: skipped, never measured
    assert results.skipped == [Row("MOBILENET_THIN", 1, "device")]
    assert len(saved) == 2  # after each row that ran, so a run cut short keeps what it did
    assert "| 32 | device | 1.0 | 2.0 | 0.50 |" in saved[0] and "| 8 |" not in saved[0]
    final = results.section()
    assert "RuntimeError: RESOURCE_EXHAUSTED: out of memory |" in final and "long details" not in final
    assert final.endswith("Not run (time budget): MOBILENET_THIN device batch 1.")
    # table order: batches ascending within a stage
    assert final.index("| 8 | device") < final.index("| 32 | device")


def test_section_from_puts_a_brought_back_table_into_results(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n<!-- begin gpu -->\nold\n<!-- end gpu -->\n\n<!-- begin x -->\nkeep\n<!-- end x -->\n")
    monkeypatch.setattr(common, "RESULTS", results)
    saved = tmp_path / "gpu_section.md"
    saved.write_text("## Accelerator: NVIDIA H100 80GB HBM3\n\n| a |\n|---|\n| 1 |\n")
    bench_gpu.main(["--section-from", str(saved)])
    text = results.read_text()
    assert "old" not in text and "## Accelerator: NVIDIA H100 80GB HBM3" in text and "keep" in text
    assert re.search(r"<!-- begin gpu -->\n## Accelerator: NVIDIA H100.*\| 1 \|\n<!-- end gpu -->", text, re.S)


@pytest.mark.slow
def test_cpu_run_writes_the_section_file_and_leaves_results_alone(tmp_path, monkeypatch):
    """The real measuring path (MobileNet-thin's device part, 160x96, batch 2) on CPU, with an
    empty model cache: random weights, no download; RESULTS.md untouched on CPU."""
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "empty_cache"))
    before = common.RESULTS.read_text()
    out = tmp_path / "out" / "gpu_section.md"
    bench_gpu.main(["--models", "MOBILENET_THIN", "--stages", "device", "--batches", "2", "--size", "160x96",
                    "--frames", "2", "--samples", "1", "--out", str(out)])
    text = out.read_text()
    assert common.RESULTS.read_text() == before
    row = re.search(r"\| MOBILENET_THIN \| random weights \| 160x96 \| 2 \| device \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", text)
    assert row, text
    assert all(float(v) > 0 for v in row.groups())
    assert "Not run" not in text

"""`jaxpose train` and `jaxpose eval` as a user runs them: exit codes, messages, the summary, and
a trained model file that `jaxpose eval --model` and `make_pose_fn` load."""

from __future__ import annotations

import io

import pytest

from conftest import SHARED, need_shared
from jaxpose.cli import main as cli_main
from jaxpose.cli import train as train_cli

COCO_DIR = SHARED / "eval" / "coco"
ANN = COCO_DIR / "test_coco.json"


def run(module, args):
    out, err = io.StringIO(), io.StringIO()
    return module.main(args, stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_subcommands_are_registered():
    assert cli_main.SUBCOMMANDS["train"] == "jaxpose.cli.train"
    assert cli_main.SUBCOMMANDS["eval"] == "jaxpose.cli.eval"


def test_train_usage_and_input_errors(tmp_path, capsys):
    need_shared(ANN)
    base = ["--coco", str(ANN), "--images", str(COCO_DIR), "--out", str(tmp_path / "run")]
    code, _, _ = run(train_cli, base + ["--steps", "2", "--input_size", "100x48"])
    assert code == 2 and "multiples of 8" in capsys.readouterr().err
    code, _, _ = run(train_cli, base)  # --steps missing
    assert code == 2
    code, _, err = run(train_cli, ["--coco", str(tmp_path / "x.json"), "--images", str(COCO_DIR),
                                   "--out", str(tmp_path / "r"), "--steps", "2"])
    assert code == 1 and "no such annotation file" in err
    code, _, err = run(train_cli, base + ["--steps", "2", "--resume"])
    assert code == 1 and "holds no run" in err


def test_train_bad_run_folder_and_settings_are_usage_errors_before_any_work(tmp_path):
    """An --out that is a file or cannot be created, and --steps 0: one line, exit 2, no
    traceback, checked before the annotations or the model are read (a missing file would be
    exit 1)."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    missing = ["--coco", str(tmp_path / "none.json"), "--images", str(tmp_path), "--steps", "1"]
    code, _, err = run(train_cli, missing + ["--out", str(a_file)])
    assert code == 2 and err.count("\n") == 1 and f"--out {a_file}: exists and is not a folder" in err
    code, _, err = run(train_cli, missing + ["--out", str(a_file / "run")])
    assert code == 2 and err.count("\n") == 1 and f"--out {a_file / 'run'}" in err
    assert "Traceback" not in err
    code, _, err = run(train_cli, missing[:-1] + ["0", "--out", str(tmp_path / "run")])
    assert code == 2 and "--steps must be >= 1, got 0" in err
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "train_config.json").write_text("{}")
    code, _, err = run(train_cli, missing + ["--out", str(tmp_path / "old")])  # before the annotations
    assert code == 1 and "already holds a training run; pass --resume" in err


@pytest.mark.slow
def test_train_then_eval_the_saved_model(tmp_path):
    need_shared(ANN)
    from jaxpose.cli import eval as eval_cli

    out = tmp_path / "run"
    code, stdout, err = run(train_cli, ["--coco", str(ANN), "--images", str(COCO_DIR), "--out", str(out),
                                        "--steps", "2", "--batch_size", "2", "--input_size", "64x48",
                                        "--freeze", "^Conv2d_"])
    assert code == 0, err
    assert "steps 0->2" in stdout and "model.jaxpose" in stdout
    code, stdout, err = run(eval_cli, ["--model", str(out / "model.jaxpose"), "--coco", str(ANN),
                                       "--images", str(COCO_DIR), "--net_resolution", "-1x128", "--quiet"])
    assert code == 0, err
    assert "| AP |" in stdout
    code, _, err = run(train_cli, ["--coco", str(ANN), "--images", str(COCO_DIR), "--out", str(out), "--steps", "2"])
    assert code == 1 and "already holds a training run" in err
    import jaxpose
    import numpy as np

    start, tuned = jaxpose.load_model("mobilenet_thin"), jaxpose.load_model(out / "model.jaxpose")
    np.testing.assert_array_equal(start.params["Conv2d_3_pointwise"]["kernel"],
                                  tuned.params["Conv2d_3_pointwise"]["kernel"])  # frozen
    assert not np.array_equal(start.params["MConv_Stage6_L2_5_pointwise"]["kernel"],
                              tuned.params["MConv_Stage6_L2_5_pointwise"]["kernel"])

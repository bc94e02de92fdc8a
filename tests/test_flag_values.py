"""Every bad flag value is a UsageError before anything runs (exit code 2): non-finite numbers when
the command line is parsed, ranges and combinations when the options are checked
(`jaxpose.options.check_options`, shared by the command and the `OpenPose` class), conflicting
inputs when the command plans its inputs.

The command-line runs of the same cases (exit code, one line) are in tests/test_reliability.py.
"""

from __future__ import annotations

import pytest

from jaxpose.cli import flags
from jaxpose.cli.flags import UsageError
from jaxpose.cli.run import plan_inputs
from jaxpose.options.check import check_options


def parse_and_check(argv: list[str]) -> flags.Options:
    options = flags.parse(argv)
    check_options(options)
    return options

FLOAT_FLAGS = [f.name for f in flags.FLAG_LIST if f.kind == "float"]


@pytest.mark.parametrize("name", FLOAT_FLAGS)
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_every_float_flag_refuses_non_finite_values(name, value):
    with pytest.raises(UsageError, match=f"--{name} expects a finite number"):
        flags.parse(["x", f"--{name}", value])


@pytest.mark.parametrize("name", FLOAT_FLAGS)
def test_python_values_for_float_flags_are_checked_too(name):
    with pytest.raises(UsageError, match="finite"):
        flags.convert(flags.FLAGS[name], float("nan"))


@pytest.mark.parametrize("argv, message", [
    (["--scale_number", "9"], "--scale_number must be in 1..8"),
    (["--scale_number", "0"], "--scale_number must be in 1..8"),
    (["--scale_number", "2", "--scale_gap", "0"], "--scale_gap must be > 0"),
    (["--scale_number", "2", "--scale_gap", "-0.25"], "--scale_gap must be > 0"),
    (["--scale_number", "4", "--scale_gap", "0.5"], "gives a scale of -0.5, below 0"),
    (["--scale_number", "5", "--scale_gap", "0.25"], "net input side below 16 pixels"),
    (["--scale_number", "2", "--semantics", "cpu"], "OpenPose's CPU build refuses several scales"),
    (["--hand_scale_number", "0"], "--hand_scale_number must be >= 1"),
    (["--hand_scale_range", "2"], "--hand_scale_range must lie in [0, 2)"),
    (["--hand_net_resolution", "100x100"], "not a multiple of 16"),
    (["--face_net_resolution", "300"], "not a multiple of 16"),
    (["--camera", "-2"], "--camera must be -1"),
    (["--max_compiled", "0"], "--max_compiled must be >= 1"),
    (["--net_resolution", "-1x-1"], "at most one of width and height"),
])
def test_bad_values_and_combinations(argv, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        parse_and_check(["x"] + argv)


@pytest.mark.parametrize("argv, names", [
    (["--video", "v.avi", "--image_dir", "d"], "--image_dir and --video"),
    (["--video", "v.avi", "--camera", "0"], "--video and --camera"),
    (["--ip_camera", "rtsp://h/s", "--image_dir", "d"], "--image_dir and --ip_camera"),
])
def test_conflicting_inputs_are_refused(argv, names):
    with pytest.raises(UsageError, match=f"conflicting inputs {names}"):
        plan_inputs(flags.parse(argv))


@pytest.mark.parametrize("argv", [
    ["x", "--scale_number", "8", "--scale_gap", "0.1"],
    ["x", "--scale_number", "4", "--scale_gap", "0.25"],
    ["x", "--scale_number", "1", "--scale_gap", "0"],  # the gap only matters with several scales
])
def test_good_scale_values_pass(argv):
    assert parse_and_check(argv).scale_number == int(argv[2])


def test_good_combinations_pass():
    options = parse_and_check(["a.avi", "b/", "--video", "c.avi", "--render_threshold", "0.1",
                               "--net_resolution_dynamic", "-1", "--max_compiled", "2"])
    assert options.inputs == ["a.avi", "b/"] and options.max_compiled == 2
    assert parse_and_check(["x", "--hand_net_resolution", "320"]).hand_net_resolution == "320"
    assert flags.parse(["--help", "--scale_number", "9"]).help  # help is shown whatever else


def test_max_compiled_flag_is_listed_in_help():
    assert "--max_compiled\n" in flags.help_text()

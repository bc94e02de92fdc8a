"""benchmarks.profile_mobilenet.wall_shares: overlapping thunks split the wall time they share."""

import pytest

from benchmarks.profile_mobilenet import wall_shares


def test_side_by_side_thunks_split_their_time():
    shares = wall_shares([(0.0, 4.0, "dot"), (0.0, 4.0, "depthwise"), (4.0, 6.0, "dot"), (10.0, 11.0, "pad")])
    assert shares == pytest.approx({"dot": 4.0, "depthwise": 2.0, "pad": 1.0})


def test_shares_add_up_to_busy_wall_time_not_summed_durations():
    # three thunks: [0, 6] alone for 1, with a second for 2, with two others for 3 -> busy 0..7
    intervals = [(0.0, 6.0, "a"), (1.0, 6.0, "b"), (3.0, 7.0, "c")]
    shares = wall_shares(intervals)
    assert sum(shares.values()) == pytest.approx(7.0)
    assert sum(end - start for start, end, _ in intervals) == pytest.approx(15.0)
    # by hand: [0,1) a; [1,3) a,b; [3,6) a,b,c; [6,7) c
    assert shares == pytest.approx({"a": 1 + 1 + 1, "b": 1 + 1, "c": 1 + 1})


def test_same_kind_side_by_side_counts_once():
    assert wall_shares([(0.0, 5.0, "dot"), (1.0, 4.0, "dot")]) == pytest.approx({"dot": 5.0})

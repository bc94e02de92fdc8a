"""The model tables agree with the original network definitions and with the documented layouts."""

from __future__ import annotations

import pytest

from conftest import PROTOTXTS, need_shared
from jaxpose.convert.caffe import read_prototxt
from jaxpose.specs import BODY_MODELS, SPECS, get_spec


def _final_concat_channels(prototxt) -> list[int]:
    """Channels of each input of the network's output blob, in concat order, read from the prototxt."""
    net = read_prototxt(prototxt)
    convs = {layer.name: layer.convolution_param.num_output for layer in net.layer}
    final = net.layer[-1]
    if final.type == "Concat":
        return [convs[b] for b in final.bottom]
    return [convs[final.name]]


@pytest.mark.parametrize("name", list(PROTOTXTS))
def test_channel_layout_matches_prototxt(name):
    """Heatmaps (+ background) come first, then the PAFs, with the counts the prototxt produces."""
    spec = get_spec(name)
    channels = _final_concat_channels(need_shared(PROTOTXTS[name]))
    expected = [spec.paf_offset] + ([2 * spec.num_pairs] if spec.num_pairs else [])
    assert channels == expected
    assert sum(channels) == spec.num_channels


@pytest.mark.parametrize("name", BODY_MODELS)
def test_pairs_and_paf_channels_are_consistent(name):
    spec = get_spec(name)
    assert len(spec.map_idx) == len(spec.pairs)
    flat = sorted(c for xy in spec.map_idx for c in xy)
    assert flat == list(range(2 * spec.num_pairs)), "every PAF channel used exactly once"
    assert all(0 <= a < spec.num_parts and 0 <= b < spec.num_parts for a, b in spec.pairs)
    assert spec.score_normalizer == {25: 51, 18: 37, 15: 29}[spec.num_parts]


@pytest.mark.parametrize("name", SPECS)
def test_render_tables_cover_every_part(name):
    spec = get_spec(name)
    assert len(spec.part_colors) == spec.num_parts
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in spec.part_colors)
    assert all(0 <= a < spec.num_parts and 0 <= b < spec.num_parts for a, b in spec.render_pairs)


@pytest.mark.parametrize("name", ["BODY_25", "COCO", "MOBILENET_THIN"])
def test_render_pairs_are_the_pairs_without_the_redundant_ones(name):
    """poseParametersRender.hpp omits exactly the shoulder->ear PAF pairs from drawing."""
    spec = get_spec(name)
    kept = [p for k, p in enumerate(spec.pairs) if k not in spec.redundant_pairs]
    assert list(spec.render_pairs) == kept
    assert [spec.part_names[i][1:] for k in spec.redundant_pairs for i in spec.pairs[k]] == [
        "Shoulder", "Ear", "Shoulder", "Ear"]


def test_documented_default_thresholds():
    """openpose-core.md §2.5."""
    assert get_spec("BODY_25").thresholds.nms_threshold == 0.05
    assert get_spec("MPI").thresholds.nms_threshold == 0.6
    assert get_spec("MPI_4_layers").thresholds.nms_threshold == 0.3
    assert get_spec("COCO").thresholds_for(True).min_subset_cnt == 2
    assert get_spec("MOBILENET_THIN").normalization == "raw_bgr"
    with pytest.raises(KeyError, match="unknown model"):
        get_spec("BODY_19")

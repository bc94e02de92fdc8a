"""Writers: pure `poses -> text/bytes` functions plus atomic file writes, one module per format.

    people_json     --write_json          people_json, write_people_json
    keypoint_file   --write_keypoint      keypoint_file_text, keypoints_csv, write_keypoint_files
    coco_json       --write_coco_json     coco_entries, coco_json_text, CocoJsonWriter
    heatmaps        --write_heatmaps      export_heatmaps, tile_heatmaps, heatmaps_bytes, write_heatmaps
    image           --write_images        encode_image, write_image, write_rendered_image
    posetrack       (PoseTrack 2018)      posetrack_annotations, posetrack_document, PoseTrackWriter

File names come from `jaxpose.io.names.output_path`; keypoints are written as given, so apply
`jaxpose.io.keypoint_scale.scale_keypoints` first for `--keypoint_scale`.
"""

from jaxpose.io.writers.coco_json import CocoJsonWriter, coco_entries, coco_json_text
from jaxpose.io.writers.heatmaps import export_heatmaps, heatmaps_bytes, tile_heatmaps, write_heatmaps
from jaxpose.io.writers.image import encode_image, write_image, write_rendered_image
from jaxpose.io.writers.keypoint_file import (
    keypoint_file_text, keypoints_csv, write_keypoint_files,
)
from jaxpose.io.writers.people_json import people_json, write_people_json
from jaxpose.io.writers.posetrack import PoseTrackWriter, posetrack_annotations, posetrack_document

__all__ = [
    "CocoJsonWriter", "PoseTrackWriter", "coco_entries", "coco_json_text", "encode_image",
    "export_heatmaps", "heatmaps_bytes", "keypoint_file_text", "keypoints_csv", "people_json",
    "posetrack_annotations", "posetrack_document", "tile_heatmaps", "write_heatmaps", "write_image", "write_keypoint_files", "write_people_json",
    "write_rendered_image",
]

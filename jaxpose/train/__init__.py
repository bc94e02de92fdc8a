"""Training and fine-tuning of the body networks (openpose-training.md).

    from jaxpose.train import TrainConfig, train
    result = train(TrainConfig(model="mobilenet_thin", annotations="person_keypoints_train2017.json",
                               images="train2017/", out="run/", steps=10_000))

Rooms inside, data flowing one way:
    coco_data   COCO person-keypoints file -> images, people, ignore masks (pycocotools)
    layouts     COCO-17 -> each model's part layout, by part names (jaxpose.specs)
    augment     one affine per sample for image, mask and keypoints (host, OpenCV)
    loader      deterministic, threaded, bounded batch stream
    targets     heatmaps, background, PAFs and loss weights: pure jitted JAX
    loss        every stage's output (Flax intermediates) and the multi-stage masked L2
    optim       optax optimisers, schedules, lr multipliers, frozen layers
    step        the jitted, donated, data-parallel train step
    checkpoint  orbax checkpoints; metrics: CSV and TensorBoard
    loop        `train(config)`: the imperative shell
    recipes     every number of the sources' recipes
Nothing in the 2D pipeline imports this package.
"""

from jaxpose.train.loop import TrainConfig, TrainingError, TrainResult, train
from jaxpose.train.recipes import RECIPES, Recipe, recipe_for

__all__ = ["RECIPES", "Recipe", "TrainConfig", "TrainResult", "TrainingError", "recipe_for", "train"]

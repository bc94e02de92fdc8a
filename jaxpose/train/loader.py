"""The streaming input pipeline: decoded, augmented, fixed-shape batches, prepared in parallel
with training, in a deterministic order.

    stream = BatchStream(data, layout, recipe, batch_size=8, crop_wh=(432, 368), seed=0)
    for step, batch in zip(range(start, steps), stream.batches(start)): ...
    stream.close()

Why a thread pool with a bounded queue (and not processes or `grain`, which is not installed):
the work per sample is JPEG decoding, pycocotools mask decoding and one `cv2.warpAffine`, all of
which release the GIL, so threads run them in parallel without pickling images between
processes or paying process start-up; the queue holds at most `prefetch` batches, so memory stays
bounded whatever the dataset size. Determinism: sample `g` (the g-th sample of the run,
g = step * B + i) is image `permutation(seed, epoch)[g % N]`, augmented with its own generator
`default_rng((seed, g))`; futures are consumed in submission order. So batch `step` is the same
whether a run started at 0 or resumed at `step`, however many threads there are.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.readers import decode_image
from jaxpose.train.augment import augment
from jaxpose.train.coco_data import CocoKeypoints
from jaxpose.train.layouts import Layout, flip_permutation, to_model_layout
from jaxpose.train.recipes import Recipe

DEFAULT_MAX_PEOPLE = 32  # people per sample (padded); COCO images have at most ~20 with keypoints


@dataclasses.dataclass(frozen=True)
class Batch:
    """One training batch (host arrays, fixed shapes)."""

    images: np.ndarray  # (B, H, W, 3) uint8 RGB
    keypoints: np.ndarray  # (B, P, K, 3) float32 x, y (crop pixels), state
    masks: np.ndarray  # (B, H, W) uint8 mask_miss, 255 = train
    image_ids: np.ndarray  # (B,) int64 COCO image ids, for messages


def sample_image(num_images: int, seed: int, g: int) -> int:
    """Index of the image of the run's g-th sample: epochs of a seeded permutation."""
    epoch, position = divmod(g, num_images)
    order = np.random.default_rng((seed, epoch, 0x5EED)).permutation(num_images)
    return int(order[position])


def make_sample(data: CocoKeypoints, index: int, layout: Layout, recipe: Recipe,
                crop_wh: tuple[int, int], max_people: int, rng: np.random.Generator,
                coordinate_shift: float = 0.0):
    """One augmented sample: (crop (H, W, 3), mask (H, W), people (max_people, K, 3), image id)."""
    image_info = data.images[index]
    image = decode_image(image_info.path)
    h, w = image.shape[:2]
    mask = data.mask_miss(image_info) if recipe.use_mask else np.full((h, w), 255, np.uint8)
    if mask.shape != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    coco = image_info.keypoints.copy()
    boxes = image_info.boxes.copy()
    if coordinate_shift:
        coco[..., :2] += coordinate_shift
        boxes[:, :2] += coordinate_shift
    order = np.argsort(-image_info.num_keypoints, kind="stable")[:max_people]
    coco, boxes, areas = coco[order], boxes[order], image_info.areas[order]
    people = to_model_layout(coco, (w, h), layout)
    crop, crop_mask, people = augment(image, mask, people, coco, boxes, areas, recipe.augment,
                                      crop_wh, flip_permutation(layout.spec.name), rng)
    padded = np.zeros((max_people, people.shape[1], 3), np.float32)
    padded[: len(people)] = people
    return crop, crop_mask, padded, image_info.image_id


class BatchStream:
    """Batches of `data` for consecutive steps, prepared by `workers` threads ahead of use."""

    def __init__(self, data: CocoKeypoints, layout: Layout, recipe: Recipe, *, batch_size: int,
                 crop_wh: tuple[int, int], seed: int = 0, max_people: int = DEFAULT_MAX_PEOPLE,
                 workers: int = 4, prefetch: int = 2, coordinate_shift: float = 0.0):
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        if crop_wh[0] % layout.spec.stride or crop_wh[1] % layout.spec.stride:
            raise InputError(f"input size {crop_wh[0]}x{crop_wh[1]}: both sides must be multiples "
                             f"of the network stride {layout.spec.stride}.")
        self.data, self.layout, self.recipe = data, layout, recipe
        self.batch_size, self.crop_wh, self.seed = batch_size, tuple(crop_wh), seed
        self.max_people, self.prefetch = max_people, max(1, prefetch)
        self.coordinate_shift = coordinate_shift
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="jaxpose-data")

    def sample(self, g: int):
        index = sample_image(len(self.data), self.seed, g)
        rng = np.random.default_rng((self.seed, g))
        return make_sample(self.data, index, self.layout, self.recipe, self.crop_wh,
                           self.max_people, rng, self.coordinate_shift)

    def batch(self, step: int) -> Batch:
        """Batch `step`, computed here without the pool (for checks and reproductions)."""
        return _stack([self.sample(step * self.batch_size + i) for i in range(self.batch_size)])

    def batches(self, start_step: int = 0) -> Iterator[Batch]:
        """Batches `start_step`, `start_step + 1`, ... forever, `prefetch` batches ahead."""
        queue: collections.deque[list[Future]] = collections.deque()
        step = start_step

        def submit(s: int) -> None:
            queue.append([self._pool.submit(self.sample, s * self.batch_size + i)
                          for i in range(self.batch_size)])

        try:
            for _ in range(self.prefetch):
                submit(step + len(queue))
            while True:
                futures = queue.popleft()
                submit(step + len(queue) + 1)
                yield _stack([f.result() for f in futures])
                step += 1
        finally:
            for futures in queue:
                for f in futures:
                    f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _stack(samples: list) -> Batch:
    crops, masks, people, ids = zip(*samples)
    return Batch(images=np.stack(crops), keypoints=np.stack(people), masks=np.stack(masks),
                 image_ids=np.array(ids, np.int64))

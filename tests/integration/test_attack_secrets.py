"""Attack suite: unique secrets planted in every source envsnap reads reach no output byte.

One real environment holds them all: a virtual environment laid out as a conda prefix (the
real conda-meta records of tests/data, edited to carry tokens), hand-written dist-infos with
PEP 610 direct_url.json files, pip configuration files at every place pip reads one, pip and
uv index variables, allowlisted and refused environment variables, CUDA image variables, and
git checkouts whose origin remotes carry tokens. The real CLI then captures it (TOML, JSON,
--anonymize), shows, diffs in every format, locks and writes a Dockerfile, and every byte
written (files, stdout, stderr) is searched for every secret. Harmless look-alikes planted
beside them must come out unchanged. docs/security.md describes the suite.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import string
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import support

from envsnap import io
from envsnap.integrations.mlflow import tags as mlflow_tags
from envsnap.lock.safety import SAFE_VALUE
from envsnap.snapshot import Snapshot

pytestmark = pytest.mark.slow

ENVSNAP = str(Path(sys.executable).parent / "envsnap")
CONDA_META = Path(__file__).resolve().parents[1] / "data" / "conda-meta"


@dataclass
class Plan:
    """Every secret planted (its random core -> where), and every look-alike expected back."""

    secrets: dict[str, str] = field(default_factory=dict)
    lookalikes: list[str] = field(default_factory=list)
    # (output label, text): look-alikes a report prints, after the whole-text redaction pass
    in_reports: list[tuple[str, str]] = field(default_factory=list)

    def secret(self, where: str, shape: str = "plain") -> str:
        core = secrets.token_hex(10)
        marker = {
            "plain": f"Zq{core}",
            "ghp": f"ghp_{core}{secrets.token_hex(8)}",
            "ghs": f"ghs_{core}{secrets.token_hex(8)}",
            "glpat": f"glpat-{core}",
            "hf": f"hf_{core}{secrets.token_hex(7)}",
            "sk": f"sk-proj-{core}{secrets.token_hex(10)}",
            "xoxb": f"xoxb-{secrets.randbelow(10**12)}-{core}",
            "akia": "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits)
                                     for _ in range(16)),
            "stripe": f"sk_live_{core}{secrets.token_hex(4)}",
            "rk": f"rk_live_{core}{secrets.token_hex(4)}",
            "ya29": f"ya29.a0Af{core}{secrets.token_hex(8)}",
        }[shape]
        if shape == "akia":
            core = marker[4:]
        assert core not in self.secrets
        self.secrets[core] = where
        return marker

    def harmless(self, what: str) -> str:
        self.lookalikes.append(what)
        return what

    def harmless_in(self, label: str, what: str) -> None:
        self.in_reports.append((label, what))


@dataclass
class Attack:
    plan: Plan
    outputs: dict[str, bytes]
    snapshots: dict[str, Snapshot]
    root: Path
    codes: dict[str, int]


def _dist(site: Path, name: str, *, version: str = "1.0", direct_url: dict[str, object] | None = None,
          requires: tuple[str, ...] = ()) -> None:
    """A dist-info as pip writes one (METADATA, WHEEL, INSTALLER, RECORD, direct_url.json)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
            *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def _plant_python(plan: Plan, site: Path) -> None:
    p = plan.secret
    vcs = {"vcs": "git", "commit_id": "a" * 40}
    archive = {"hashes": {"sha256": "b" * 64}}
    placements: list[tuple[str, dict[str, object]]] = [
        (f"git+https://{p('direct_url: userinfo user only')}@github.com/acme/private.git", {"vcs_info": vcs}),
        (f"git+https://{p('direct_url: TOKEN:x-oauth-basic')}:x-oauth-basic@github.com/acme/p.git",
         {"vcs_info": vcs}),
        (f"git+https://{p('direct_url: TOKEN: (empty password)')}:@github.com/acme/p.git", {"vcs_info": vcs}),
        (f"https://deploy:{p('direct_url: user:pass')}@files.corp.example/a-1.0.tar.gz",
         {"archive_info": archive}),
        (f"https://deploy:{p('direct_url: password with @ (head)')}@{p('direct_url: password with @ (tail)')}"
         "@files.corp.example/a-1.0.tar.gz", {"archive_info": archive}),
        (f"https://files.corp.example/a-1.0.tar.gz?token={p('direct_url: ?token=')}",
         {"archive_info": archive}),
        ("https://acct.blob.core.windows.net/wheels/a-1.0-py3-none-any.whl?sv=2022-11-02&ss=b&sp=r"
         f"&se=2030-01-01T00%3A00%3A00Z&sig={p('direct_url: Azure SAS sig=')}", {"archive_info": archive}),
        ("https://bucket.s3.amazonaws.com/a-1.0.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
         f"{p('direct_url: X-Amz-Credential key id', 'akia')}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
         "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600"
         f"&X-Amz-Signature={p('direct_url: X-Amz-Signature')}",
         {"archive_info": archive}),
        (f"https://files.corp.example/a-1.0.tar.gz#access_token={p('direct_url: #access_token=')}"
         f"&sha256={'c' * 64}",
         {"archive_info": archive}),
        (f"git+https://oauth2:{p('direct_url: GitLab token', 'glpat')}@gitlab.com/acme/x.git",
         {"vcs_info": vcs}),
        (f"https://files.corp.example/{p('direct_url: token shape in path', 'ghp')}/a-1.0.tar.gz",
         {"archive_info": archive}),
        (f"git+https://u:{p('direct_url: VCS URL with rev and fragment')}@github.com/acme/x.git@v1.0"
         "#egg=x&subdirectory=pkg", {"vcs_info": vcs}),
    ]
    # issue 17: a token as a path segment on an unknown host, a ;token= path parameter, a token
    # pasted as the requested revision, a signed subdirectory
    placements += [
        (f"https://pkgs.corp.example/basic/{p('direct_url: path token on an unknown host')}/a-1.0.tar.gz",
         {"archive_info": archive}),
        (f"https://files.corp.example/dl;token={p('direct_url: ;token= path parameter')}/a-1.0.tar.gz",
         {"archive_info": archive}),
        ("git+https://github.com/acme/private.git",
         {"vcs_info": {**vcs, "requested_revision": p("direct_url: requested_revision ghp_", "ghp")}}),
        ("git+https://github.com/acme/private.git",
         {"vcs_info": {**vcs, "requested_revision": p("direct_url: requested_revision sk_live_", "stripe")}}),
        ("git+https://github.com/acme/mono.git",
         {"vcs_info": vcs, "subdirectory": f"sdk/python;sig={p('direct_url: subdirectory ;sig=')}"}),
        (f"https://dl.corp.example/{p('direct_url: path token, last segment')}", {"archive_info": archive}),
    ]
    for i, (url, extra) in enumerate(placements):
        _dist(site, f"attack-direct-{i}", direct_url={"url": url, **extra})
    _dist(site, "attack-requires",
          requires=(f"dep @ https://{p('METADATA Requires-Dist direct reference')}"
                    "@files.corp.example/dep.whl",))
    # look-alikes: these URLs come back as they went in
    harmless: list[tuple[str, dict[str, object]]] = [
        ("git+https://github.com/acme/sk-image-segmentation-pipeline.git", {"vcs_info": vcs}),
        ("git+ssh://git@github.com/org/repo.git", {"vcs_info": vcs}),
        ("git+ssh://builder@git.corp.example/ml/train.git", {"vcs_info": vcs}),
        ("https://files.example/pkgs/x-1.0.tar.gz?subdirectory=pkg&ref=main", {"archive_info": archive}),
        (f"https://files.example/pkgs/z-1.0.tar.gz#sha256={'d' * 64}", {"archive_info": archive}),
        ("https://${PIP_USER}:${PIP_TOKEN}@files.corp.example/y-1.0.tar.gz", {"archive_info": archive}),
        # real wheel names and hashes on hosts the entropy rule applies to (and one it exempts)
        ("https://mirror.corp.example/packages/torch-2.5.1%2Bcu121-cp311-cp311-manylinux_2_28_x86_64.whl",
         {"archive_info": archive}),
        ("https://mirror.corp.example/whl/flash_attn-2.6.3+cu123torch2.4cxx11abiFALSE-cp311-cp311-"
         "linux_x86_64.whl", {"archive_info": archive}),
        (f"https://files.pythonhosted.org/packages/3f/0d/{'0a1b2c3d4e5f6789' * 3}0a1b2c3d4e5f/"
         "x-1.0-py3-none-any.whl", {"archive_info": archive}),
        ("https://mirror.corp.example/simple/nvidia-cusparselt-cu12/nvidia_cusparselt_cu12-0.6.2-py3-none-"
         "manylinux2014_x86_64.whl", {"archive_info": archive}),
    ]
    for i, (url, extra) in enumerate(harmless):
        _dist(site, f"lookalike-direct-{i}", direct_url={"url": plan.harmless(url), **extra})
    _dist(site, "lookalike-revision", direct_url={
        "url": "git+https://git.corp.example/ml/train.git",
        "vcs_info": {"vcs": "git", "commit_id": plan.harmless("0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d"),
                     "requested_revision": plan.harmless("release/v2.1")}})


def _plant_pip_config(plan: Plan, root: Path, prefix: Path) -> dict[str, str]:
    p = plan.secret
    conf = root / "pip-config-file.conf"
    conf.write_text(
        "[global]\n"
        f"index-url = https://{p('PIP_CONFIG_FILE index-url user only')}@pypi.corp.example/simple\n"
        "extra-index-url =\n"
        f"    https://ci:{p('PIP_CONFIG_FILE extra-index-url user:pass')}@extra.corp.example/simple\n"
        f"    {plan.harmless('https://download.pytorch.org/whl/cu121')}\n"
        "[install]\n"
        f"extra-index-url = https://u:{p('PIP_CONFIG_FILE password with @ (head)')}@"
        f"{p('PIP_CONFIG_FILE password with @ (tail)')}@third.corp.example/simple "
        f"https://h.corp.example/simple?token={p('PIP_CONFIG_FILE ?token=')}\n"
        f"    https://pkgs.corp.example/basic/{p('PIP_CONFIG_FILE path token /basic/<token>/')}/simple\n"
        f"    https://pkgs.corp.example/simple;token={p('PIP_CONFIG_FILE ;token= path parameter')}\n"
        f"    {plan.harmless('https://artifactory.corp.example/artifactory/api/pypi/pypi-remote/simple')}\n"
        f"    {plan.harmless('https://gitlab.corp.example/api/v4/projects/12345678/packages/pypi/simple')}\n"
        f"    {plan.harmless('https://us-central1-python.pkg.dev/my-project-123456/my-repo/simple/')}\n")
    home = root / "ho"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        f"[global]\nextra-index-url = https://{p('~/.config/pip/pip.conf TOKEN:x-oauth-basic')}"
        ":x-oauth-basic@home.corp.example/simple\n")
    (home / ".pip").mkdir()
    (home / ".pip" / "pip.conf").write_text(
        f"[install]\nextra-index-url = https://legacy.corp.example/simple?sig={p('~/.pip/pip.conf ?sig=')}\n")
    xdg = root / "xdg"
    (xdg / "pip").mkdir(parents=True)
    (xdg / "pip" / "pip.conf").write_text(
        f"[global]\nextra-index-url = https://{p('$XDG_CONFIG_DIRS/pip/pip.conf sk- key', 'sk')}"
        "@xdg.corp.example/simple\n")
    (prefix / "pip.conf").write_text(
        f"[global]\nextra-index-url = https://admin:{p('$PREFIX/pip.conf user:pass')}"
        "@prefix.corp.example/simple\n")
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CONFIG_DIRS": str(xdg),
        "PIP_CONFIG_FILE": str(conf),
        "PIP_INDEX_URL": f"https://{p('PIP_INDEX_URL TOKEN:')}:@pypi.env.example/simple",
        "PIP_EXTRA_INDEX_URL": f"https://a.example/simple https://u:{p('PIP_EXTRA_INDEX_URL user:pass')}"
                               "@b.example/simple",
        "UV_INDEX": f"corp=https://ci:{p('UV_INDEX name=URL')}@uv.corp.example/simple "
                    f"pytorch={plan.harmless('https://download.pytorch.org/whl/cu128')} "
                    f"cs=https://uv.corp.example/r/{p('UV_INDEX path token')}/simple",
        "UV_INDEX_URL": f"https://{p('UV_INDEX_URL user only')}@uvidx.example/simple",
        "UV_DEFAULT_INDEX": f"https://uvdef.example/simple?token={p('UV_DEFAULT_INDEX ?token=')}",
        "UV_EXTRA_INDEX_URL": f"https://u:{p('UV_EXTRA_INDEX_URL user:pass')}@uvextra.example/simple",
    }


def _plant_conda(plan: Plan, prefix: Path) -> None:
    """The real records of tests/data/conda-meta, edited the way private channels fill them."""
    p = plan.secret
    meta = prefix / "conda-meta"
    shutil.copytree(CONDA_META, meta, ignore=shutil.ignore_patterns("SOURCE.md"))

    def edit(name: str, **fields: str) -> None:
        path = meta / name
        record = json.loads(path.read_text())
        record.update(fields)
        path.write_text(json.dumps(record))

    corp = "https://conda.corp.example"
    edit("numpy-1.15.1-py36had7ef94_0.json",
         channel=f"{corp}/t/{p('conda numpy channel /t/<token>/ self-hosted')}/internal/osx-64",
         url=f"{corp}/t/{p('conda numpy url /t/<token>/')}/internal/osx-64/"
             "numpy-1.15.1-py36had7ef94_0.tar.bz2",
         requested_spec=f"{corp}/t/{p('conda numpy requested_spec /t/<token>/')}/internal::numpy=1.15")
    edit("openssl-3.4.1-h81ee809_0.json",
         channel=f"https://{p('conda openssl channel userinfo')}@conda.private.example/main/osx-arm64",
         url=f"https://ci:{p('conda openssl url user:pass')}@conda.private.example/main/osx-arm64/"
             "openssl-3.4.1-h81ee809_0.conda")
    edit("six-1.11.0-py36_1.json",
         url="https://conda.private.example/main/osx-64/six-1.11.0-py36_1.tar.bz2"
             f"?token={p('conda six url ?token=')}",
         requested_spec=f"six[channel='https://u:{p('conda six requested_spec password with @ (head)')}"
                        f"@{p('conda six requested_spec password with @ (tail)')}"
                        "@conda.private.example/main']")
    edit("python_abi-3.13-5_cp313t.json",
         channel=f"https://conda.corp.example/basic/{p('conda python_abi channel path token')}"
                 "/internal/noarch",
         url=f"https://conda.corp.example/internal;token={p('conda python_abi url ;token=')}/noarch/"
             "python_abi-3.13-5_cp313t.conda")
    edit("pip-25.0.1-pyh145f28c_0.json",
         channel=f"https://conda.anaconda.org/t/{p('conda pip channel anaconda.org /t/')}/conda-forge/noarch",
         url=f"https://conda.anaconda.org/t/{p('conda pip url anaconda.org /t/')}/conda-forge/noarch/"
             "pip-25.0.1-pyh145f28c_0.conda")
    with (meta / "history").open("a") as f:
        f.write(
            "==> 2025-03-15 09:00:00 <==\n"
            f"# cmd: conda install -c {corp}/t/{p('conda history # cmd: line')}/internal scipy torch\n"
            f"+{corp}/t/{p('conda history + line')}/internal/osx-arm64::scipy-1.15.2-py313_0\n"
            f"# update specs: ['{corp}/t/{p('conda history update specs /t/')}/internal::scipy', "
            f"\"torch[channel='https://ci:{p('conda history update specs channel= user:pass')}"
            "@conda.private.example/pytorch']\", "
            f"'{plan.harmless('conda-forge::numpy>=1.15')}']\n"
            f"# update specs: ['https://{p('conda history update specs userinfo')}"
            "@conda.private.example/main::requests']\n"
            f"# update specs: ['https://conda.corp.example/{p('conda history update specs path token')}"
            "/internal::pandas']\n")
    # issue 17 look-alikes: conda specs of projects whose names hold a secret word, which the
    # name=value rule read as assignments (tokenizers=****)
    specs = [plan.harmless(spec) for spec in (
        "tokenizers=0.19.1", "conda-forge::tiktoken=0.7.0", "oauthlib==3.2.2",
        "secretstorage=3.3.3=pyh707e725_0", "requests-oauthlib==2.0.0", "google-auth=2.35.*",
        "authlib===1.3.1")]
    with (meta / "history").open("a") as f:
        f.write(f"==> 2025-03-16 09:00:00 <==\n# update specs: {specs!r}\n")
    plan.harmless("python=3.13")  # the original history's spec and record, untouched
    plan.harmless("python_abi[build=*_cp313t]")


def _env(plan: Plan, root: Path) -> dict[str, str]:
    p = plan.secret
    tokens = " ".join(p(f"TORCH_LOGS token shape {shape}", shape)
                      for shape in ("ghp", "hf", "akia", "sk", "glpat", "xoxb", "stripe", "rk", "ya29"))
    refused = {  # names that say "secret": never read, whatever the prefix
        name: p(f"refused name {name}")
        for name in ("TORCH_HUB_PAT", "TF_VAR_db_pass", "TF_TOKEN_app_terraform_io", "NVIDIA_API_KEY",
                     "NVIDIA_LICENSE", "NCCL_PWD", "TRITON_PASS", "CUDA_SIGNING_KEY", "HF_TOKEN",
                     "AWS_SECRET_ACCESS_KEY", "JAX_AUTH_COOKIE")
    }
    # Names under an allowed prefix that no framework documents: present, value withheld,
    # whatever the value looks like (issue 17: the names that leaked on main).
    withheld = {
        name: p(f"undocumented name {name}")
        for name in ("CUDA_ACCESSKEY", "NVIDIA_NGC_CREDS", "JAX_PRIVKEY", "TORCH_HUB_BEARER",
                     "NCCL_SHARP_PASSKEY", "TRITON_CACHE_URL", "PYTORCH_RESULTS_DB", "NCCL_PROXY",
                     "OMP_VENDOR_SERIAL", "MKL_ACTIVATION_CODE", "HIP_ACCESS", "ROCM_SIGNER",
                     "ONEDNN_CERT", "TORCHINDUCTOR_S3_CREDS", "XLA_REMOTE_CACHE", "CUBLAS_ACCOUNT",
                     "TF_GPU_ACCOUNT", "NV_BUILD_CREDS", "KMP_SEAT")
    }
    return {
        **refused,
        **withheld,
        "DATABASE_URL": f"postgres://a:{p('refused name DATABASE_URL')}@db/x",
        "TF_CLI_ARGS": f"-var=db_password={p('refused name TF_CLI_ARGS (Terraform)')}",
        # documented names, secret values: the value rules
        "XLA_FLAGS": f"--xla_gpu_autotune_level=4 --auth_token={p('XLA_FLAGS --auth_token=')} "
                     f"--password {p('XLA_FLAGS --password VALUE')} "
                     f"--api-key -{p('XLA_FLAGS --api-key -VALUE (dash-led)')} "
                     + plan.harmless("--xla_gpu_enable_triton_gemm=false "
                                     "--xla_force_host_platform_device_count=8") +
                     f" {plan.harmless('--xla_dump_hlo_pass_re=.* --xla_dump_to=/tmp/xla')}",
        "TF_XLA_FLAGS": f"--tf_xla_auto_jit=2 --api-key={p('TF_XLA_FLAGS --api-key=')} "
                        f"password = {p('TF_XLA_FLAGS password = VALUE (spaces)')}",
        "JAX_COMPILATION_CACHE_DIR": f"gs://bucket/cache?sig={p('JAX_COMPILATION_CACHE_DIR ?sig=')}",
        "JAX_DUMP_IR_TO": f"gs://bucket/basic/{p('JAX_DUMP_IR_TO path token')}/ir",
        "TORCHINDUCTOR_REDIS_URL": f"redis://:{p('TORCHINDUCTOR_REDIS_URL :password')}@redis.internal:6379/0",
        "TRITON_REDIS_HOST": f"redis://redis.internal:6379/0;token={p('TRITON_REDIS_HOST ;token=')}",
        "NCCL_COMM_ID": f"admin:{p('NCCL_COMM_ID user:pass@ without scheme')}@proxy.internal:3128",
        "OMP_TOOL_LIBRARIES": "https://h.example/lib.so"
                              f"?X-Amz-Signature={p('OMP_TOOL_LIBRARIES X-Amz-Signature')}",
        "TRITON_CACHE_MANAGER": f"Authorization: Bearer {p('TRITON_CACHE_MANAGER Authorization: Bearer')}",
        "TRITON_REMOTE_CACHE_BACKEND": f"Proxy-Authorization: Basic {p('Proxy-Authorization: Basic')}",
        "CUDA_CACHE_PATH": f'{{"api_token": "{p("CUDA_CACHE_PATH JSON api_token")}"}}',
        "CUDA_LOG_FILE": f"{{'client_secret': '{p('CUDA_LOG_FILE YAML/dict client_secret')}'}}",
        "NCCL_DEBUG_FILE": "DefaultEndpointsProtocol=https;AccountName=acct;"
                           f"AccountKey={p('NCCL_DEBUG_FILE Azure AccountKey=')};"
                           "EndpointSuffix=core.windows.net",
        "TORCH_EXTENSIONS_DIR": "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;"
                                f"SharedAccessKey={p('TORCH_EXTENSIONS_DIR SharedAccessKey=')}",
        "NCCL_TOPO_FILE": f"BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022&"
                          f"sig={p('NCCL_TOPO_FILE SharedAccessSignature=')}",
        "PYTORCH_KERNEL_CACHE_PATH": "Server=db;Database=app;User Id=sa; "
                                     f"Password = {p('conn string Password = VALUE')};",
        "TORCH_HOME": p("TORCH_HOME Google ya29. access token", "ya29"),
        "NCCL_NET_PLUGIN": p("NCCL_NET_PLUGIN Stripe sk_live_", "stripe"),
        "NCCL_CONF_FILE": f"https://nccl.corp.example/conf;sig={p('NCCL_CONF_FILE ;sig= path parameter')}",
        "TORCH_LOGS": tokens,
        # CUDA image variables: [cuda.declared] and [env] both
        "NVIDIA_REQUIRE_CUDA": f"{plan.harmless('cuda>=12.1 brand=tesla,driver>=470,driver<471')} "
                               f"--auth_token={p('NVIDIA_REQUIRE_CUDA --auth_token=')} "
                               f"password = {p('NVIDIA_REQUIRE_CUDA password = VALUE')}",
        "NV_CUDNN_VERSION": f"9.1.0.70-1 password={p('NV_CUDNN_VERSION password=')} "
                            f"Authorization: Bearer {p('NV_CUDNN_VERSION Authorization: Bearer')}",
        "NV_LIBNCCL_PACKAGE_VERSION": f"2.21.5-1+cuda12.4?token={p('NV_LIBNCCL_PACKAGE_VERSION ?token=')}",
        "NV_CUDA_CUDART_VERSION": f"12.4.127-1 {p('NV_CUDA_CUDART_VERSION AKIA key id', 'akia')} "
                                  f"{p('NV_CUDA_CUDART_VERSION rk_live_', 'rk')}",
        "NV_LIBCUBLAS_VERSION": f"12.4.5.8-1 --password -{p('NV_LIBCUBLAS_VERSION --password -VALUE')}",
        "CUDA_VERSION": plan.harmless("12.4.1"),
        # look-alikes: kept exactly
        "TF_CPP_MIN_LOG_LEVEL": plan.harmless("2"),
        "TF_ENABLE_ONEDNN_OPTS": plan.harmless("0"),
        "TF_GPU_ALLOCATOR": plan.harmless("cuda_malloc_async"),
        "TF_FORCE_GPU_ALLOW_GROWTH": plan.harmless("true"),
        "CUDA_VISIBLE_DEVICES": plan.harmless("0,1"),
        "CUDA_DEVICE_ORDER": plan.harmless("PCI_BUS_ID"),
        "CUDA_MODULE_LOADING": plan.harmless("LAZY"),
        "PYTORCH_CUDA_ALLOC_CONF": plan.harmless("max_split_size_mb:128,expandable_segments:True"),
        "CUBLAS_WORKSPACE_CONFIG": plan.harmless(":4096:8"),
        "TORCH_CUDA_ARCH_LIST": plan.harmless("8.0;8.6+PTX"),
        "NCCL_SOCKET_IFNAME": plan.harmless("^docker0,lo"),
        "NCCL_IB_HCA": plan.harmless("mlx5_0:1,mlx5_1:1"),
        "NCCL_IB_PKEY": plan.harmless("0x8001"),
        "NCCL_ALGO": plan.harmless("Ring,Tree"),
        "KMP_AFFINITY": plan.harmless("granularity=fine,compact,1,0"),
        "OMP_NUM_THREADS": plan.harmless("8"),
        "JAX_PLATFORMS": plan.harmless("cuda,cpu"),
        "XLA_PYTHON_CLIENT_MEM_FRACTION": plan.harmless(".75"),
        "NVIDIA_DRIVER_CAPABILITIES": plan.harmless("compute,utility"),
        "TOKENIZERS_PARALLELISM": plan.harmless("false"),
        "NV_NVTX_VERSION": plan.harmless("12.4.127-1"),
        "NV_LIBNPP_VERSION": plan.harmless("12.2.5.30-1"),
        "TORCH_NCCL_DEBUG_INFO_TEMP_FILE": plan.harmless("https://github.com/acme/sk-image-segmentation-pipeline"),
        "TRITON_HOME": plan.harmless("git@github.com:org/repo.git"),
        "TRITON_DUMP_DIR": plan.harmless("https://pypi.corp.example/simple/?subdirectory=pkg&egg=x"),
        "TRITON_OVERRIDE_DIR": plan.harmless("https://pkgs.dev.azure.com/org/proj/_packaging/"
                                             "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/pypi/simple/"),
        "LD_LIBRARY_PATH": f"{root}/home2/cache/lib:{root}/ho/lib:/usr/local/cuda/lib64",
    }


# A second shell: other harmless values of the same names.
SECOND_SHELL = {"NCCL_SOCKET_IFNAME": "eth0", "TORCH_CUDA_ARCH_LIST": "7.0 7.5 8.0 8.6 9.0+PTX",
                "TOKENIZERS_PARALLELISM": "true",
                "XLA_FLAGS": "--xla_gpu_cuda_data_dir=/usr/local/cuda "
                             "--xla_gpu_strict_conv_algorithm_picker=false"}


# Real projects whose names hold a secret word (issue 17: "pip install oauthlib==3.2.2" became
# "oauthlib=****"), and the versions an upgraded copy of the capture has: diff's fixes and its
# broken-requirement advice name them with "==".
LOOKALIKE_DISTS = (
    ("tokenizers", "0.19.1", ()), ("transformers", "4.40.0", ("tokenizers<0.20,>=0.19",)),
    ("oauthlib", "3.2.2", ()), ("requests-oauthlib", "2.0.0", ("oauthlib>=3.0.0",)),
    ("secretstorage", "3.3.3", ()), ("tiktoken", "0.7.0", ()), ("google-auth", "2.35.0", ()),
)
LOOKALIKE_NAMES = frozenset(name for name, _, _ in LOOKALIKE_DISTS)
UPGRADED = {"tokenizers": "0.20.0", "oauthlib": "3.2.3", "requests-oauthlib": "2.0.1",
            "secretstorage": "3.3.4", "tiktoken": "0.8.0", "google-auth": "2.36.0"}


def _project(plan: Plan, root: Path, name: str, remote: str) -> Path:
    repo = root / name
    repo.mkdir()
    (repo / "train.py").write_text("print('hi')\n")
    support.git_commit_all(repo)
    support.git(repo, "remote", "add", "origin", remote)
    return repo


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([ENVSNAP, *args], capture_output=True, env=env, cwd=cwd, timeout=180, check=False)


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory, pypi_wheelhouse: Path) -> Attack:
    wheelhouse = support.download_wheels(pypi_wheelhouse, ("six==1.16.0",))
    root = tmp_path_factory.mktemp("attack")
    plan = Plan()
    prefix = root / "env"
    py = support.make_venv(prefix, with_pip=False)
    site = support.site_packages(py)
    _plant_python(plan, site)
    _dist(site, "six", version="1.16.0")  # installed from the index: the one lockable package
    for name, version, requires in LOOKALIKE_DISTS:
        _dist(site, name, version=version, requires=requires)
    _plant_conda(plan, prefix)
    env = support.clean_env({**_plant_pip_config(plan, root, prefix), **_env(plan, root)})
    p = plan.secret
    projects = {
        "a": _project(plan, root, "proj-a", f"https://{p('git remote user only')}@git.corp.example/ml/x.git"),
        "b": _project(plan, root, "proj-b", f"https://oauth2:{p('git remote password with @ (head)')}@"
                                            f"{p('git remote password with @ (tail)')}@gitlab.com/ml/x.git"),
        "c": _project(plan, root, "proj-c", plan.harmless("ssh://builder@git.corp.example/ml/train.git")),
        "d": _project(plan, root, "proj-d", plan.harmless("git@github.com:org/repo.git")),
        "e": _project(plan, root, "proj-e", f"https://x-access-token:{p('git remote ghs_ token', 'ghs')}"
                                            "@github.com/o/r.git"),
        "f": _project(plan, root, "proj-f", "https://git.corp.example/ml/x.git?private_token="
                                            f"{p('git remote ?private_token=')}"),
        "g": _project(plan, root, "proj-g",
                      f"https://git.corp.example/{p('git remote path token')}/ml/x.git"),
        "h": _project(plan, root, "proj-h",
                      f"https://git.corp.example/ml/x.git;token={p('git remote ;token=')}"),
    }
    out = root / "out"
    out.mkdir()
    outputs: dict[str, bytes] = {}
    codes: dict[str, int] = {}

    def run(label: str, args: list[str], cwd: Path, extra: dict[str, str] | None = None) -> None:
        proc = _run(args, {**env, **(extra or {})}, cwd)
        outputs[f"{label}: stdout"], outputs[f"{label}: stderr"] = proc.stdout, proc.stderr
        codes[label] = proc.returncode

    python = ["--python", str(py)]
    run("capture a (TOML)", ["capture", *python, "-o", str(out / "a.toml")], projects["a"])
    run("capture b (--json)", ["capture", *python, "--json", "-o", "-"], projects["b"])
    (out / "b.json").write_bytes(outputs["capture b (--json): stdout"])
    run("capture c (TOML)", ["capture", *python, "-o", str(out / "c.toml")], projects["c"])
    run("capture d (--anonymize)", ["capture", *python, "--anonymize", "-o", str(out / "d.toml")],
        projects["d"])
    run("capture e (project,env)", ["capture", "--only", "project,env", "-o", str(out / "e.toml")],
        projects["e"])
    run("capture f (project,cuda)", ["capture", "--only", "project,cuda", "-o", str(out / "f.toml")],
        projects["f"])
    for value in SECOND_SHELL.values():
        plan.harmless(value)
    run("capture g (project,env, second shell)",
        ["capture", "--only", "project,env", "-o", str(out / "g.toml")], projects["g"], SECOND_SHELL)
    run("capture h (project, --anonymize --json)", ["capture", "--only", "project", "--anonymize", "--json",
                                                    "-o", str(out / "h.json")], projects["h"])
    for name in ("a.toml", "b.json", "d.toml", "e.toml", "f.toml", "g.toml", "h.json"):
        run(f"show {name}", ["show", str(out / name)], out)
        run(f"show --json {name}", ["show", "--json", str(out / name)], out)
    for fmt in ("text", "json", "markdown"):
        for a, b in (("a.toml", "b.json"), ("a.toml", "c.toml"), ("b.json", "d.toml"), ("e.toml", "f.toml"),
                     ("e.toml", "g.toml"), ("g.toml", "h.json")):
            run(f"diff {a} {b} --format {fmt}", ["diff", str(out / a), str(out / b), "--format", fmt], out)
    for fmt in ("text", "json", "markdown"):  # check captures this machine again
        run(f"check c.toml --format {fmt}", ["check", str(out / "c.toml"), *python, "--format", fmt],
            projects["c"])
    # Lockfiles and a Dockerfile, offline. The renderers refuse by design what they cannot write
    # safely (URLs with "?" or "&", values holding "*"), so they get the capture minus those:
    # the look-alike packages for the lock; for the image, the one lockable package (six, from
    # the wheelhouse) and the env values a Dockerfile may hold. What is left still carries every
    # redacted conda record, index, remote and env value into lockfiles and the image context.
    wheels = root / "wheels"
    wheels.mkdir()
    shutil.copy(next(wheelhouse.glob("six-1.16.0-*.whl")), wheels)
    captured = io.load(out / "a.toml")
    pyenv = captured.python
    assert pyenv is not None
    lockable = tuple(pkg for pkg in pyenv.packages
                     if not pkg.name.startswith("lookalike-") and pkg.name not in LOOKALIKE_NAMES)
    # The same capture with the look-alike projects upgraded (transformers' tokenizers<0.20 then
    # broken): each diff format prints "pip install tokenizers==0.19.1" and the like.
    upgraded = tuple(replace(pkg, version=UPGRADED.get(pkg.name, pkg.version)) for pkg in pyenv.packages)
    io.dump(replace(captured, python=replace(pyenv, packages=upgraded)), out / "upgraded.toml")
    for fmt in ("text", "json", "markdown"):
        label = f"diff a.toml upgraded.toml --format {fmt}"
        run(label, ["diff", str(out / "a.toml"), str(out / "upgraded.toml"), "--format", fmt], out)
        plan.harmless_in(f"{label}: stdout", "Fix: pip install tokenizers==0.19.1")
    for name, version, _ in LOOKALIKE_DISTS:
        if name in UPGRADED:
            plan.harmless_in("diff a.toml upgraded.toml --format json: stdout",
                             f'"fix": "python -m pip install {name}=={version}"')
    plan.harmless_in("diff e.toml g.toml --format json: stdout",
                     '"fix": "export TOKENIZERS_PARALLELISM=false"')
    # lock refuses env values holding quotes (the JSON-shaped placements): left out here too
    lockable_env = {k: v for k, v in captured.env.items() if not re.search(r"[`\"'\\$]", v)}
    io.dump(replace(captured, python=replace(pyenv, packages=lockable), env=lockable_env),
            out / "lockable.toml")
    six = tuple(pkg for pkg in pyenv.packages if pkg.name == "six")
    safe_env = {k: v for k, v in captured.env.items() if SAFE_VALUE.match(v)}
    io.dump(replace(captured, python=replace(pyenv, packages=six), env=safe_env), out / "image.toml")
    offline = ["--wheelhouse", str(wheels), "--offline"]
    # --allow-build: its VCS/URL sources are then only named as not locked (offline, nothing
    # to fetch), so their redacted URLs reach the lockfiles' notes too.
    run("lock", ["lock", str(out / "lockable.toml"), "-o", str(out / "lock"),
                 "--format", "requirements,pylock,conda", *offline, "--allow-build"], out)
    run("export cyclonedx", ["export", "--format", "cyclonedx", str(out / "a.toml"), "-o",
                             str(out / "sbom.cdx.json")], out)
    run("export cyclonedx (anonymized)", ["export", "--format", "cyclonedx", str(out / "d.toml"), "-o",
                                          str(out / "sbom-d.cdx.json")], out)
    # A hand-written snapshot (never captured: the capture would have masked it) whose value
    # the renderers refuse: the refusal names the key, never the value.
    refused = root / "refused"
    refused.mkdir()
    raw = replace(captured, python=replace(pyenv, packages=six),
                  env={"TORCH_CUDA_ARCH_LIST": f'8.0 "{p("a value lock and build-image refuse (quote)")}'})
    io.dump(raw, refused / "refused.toml")
    run("lock (refused value)", ["lock", str(refused / "refused.toml"), "-o", str(out / "lock-refused"),
                                 *offline], out)
    run("build-image (refused value)", ["build-image", str(refused / "refused.toml"), "--dockerfile-only",
                                        "-o", str(out / "image-refused"), *offline], out)
    run("build-image --dockerfile-only", ["build-image", str(out / "image.toml"), "--dockerfile-only",
                                          "-o", str(out / "image"), *offline], out)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            outputs[f"file {path.relative_to(out)}"] = path.read_bytes()
    for label in ("capture a (TOML)", "capture b (--json)", "capture c (TOML)", "capture d (--anonymize)",
                  "capture e (project,env)", "capture f (project,cuda)",
                  "capture g (project,env, second shell)", "capture h (project, --anonymize --json)"):
        assert codes[label] == 0, outputs[f"{label}: stderr"].decode()
    # The lockfiles and the SBOM exist: the search below covers them, not their absence.
    assert (out / "lock" / "pylock.toml").is_file(), outputs["lock: stderr"].decode()
    assert (out / "lock" / "requirements.txt").is_file(), outputs["lock: stderr"].decode()
    assert (out / "sbom.cdx.json").is_file(), outputs["export cyclonedx: stderr"].decode()
    snapshots = {n: io.load(out / n) for n in ("a.toml", "b.json", "c.toml", "d.toml", "e.toml", "f.toml",
                                               "g.toml", "h.json")}
    # MLflow's run tags, as log_snapshot and the run-context plugin set them
    for name, snap in snapshots.items():
        outputs[f"mlflow tags {name}"] = json.dumps(mlflow_tags(snap)).encode()
    return Attack(plan=plan, outputs=outputs, snapshots=snapshots, root=root, codes=codes)


def _leaks(attack: Attack) -> Iterator[str]:
    for label, blob in attack.outputs.items():
        for core, where in attack.plan.secrets.items():
            if core.encode() in blob:
                yield f"{where} -> {label}"


def test_no_secret_reaches_any_output_byte(attack: Attack) -> None:
    leaks = list(_leaks(attack))
    placements, outputs = len(attack.plan.secrets), len(attack.outputs)
    print(f"\nattack suite: {placements} placements, {len(attack.plan.lookalikes)} look-alikes, "
          f"{outputs} outputs checked, {len(leaks)} leaks")
    assert placements >= 130 and outputs >= 100
    assert leaks == [], "\n".join(leaks)


def test_every_source_was_read_and_redacted_not_dropped(attack: Attack) -> None:
    # Without this, a clean result could mean the sources were never reached.
    a = attack.snapshots["a.toml"]
    assert a.python is not None and a.conda is not None and a.cuda is not None and a.project is not None
    sources = {p.name: p.source for p in a.python.packages if p.source is not None}
    assert sum(name.startswith("attack-direct-") for name in sources) == 18
    for name, source in sources.items():
        if name.startswith("attack-direct-"):
            fields = (source.url, source.requested_revision, source.subdirectory)
            assert any(f is not None and "****" in f for f in fields), (name, source)
    revisions = [s.requested_revision for s in sources.values() if s.requested_revision]
    assert revisions.count("****") == 2, revisions
    assert sum("****" in url for url in a.python.indexes) >= 17, a.python.indexes
    conda = {pkg.name: pkg for pkg in a.conda.packages}
    assert conda["numpy"].channel == "https://conda.corp.example/t/****/internal"
    assert conda["numpy"].requested_spec == "https://conda.corp.example/t/****/internal::numpy=1.15"
    assert (conda["python_abi"].channel or "").startswith("https://conda.corp.example/basic/****/internal")
    assert conda["pip"].channel == "conda-forge"
    assert "https://****@conda.private.example/main::requests" in a.conda.requested_specs
    assert "https://conda.corp.example/****/internal::pandas" in a.conda.requested_specs
    assert a.project.remote == "https://****@git.corp.example/ml/x.git"
    assert a.env["XLA_FLAGS"].startswith("--xla_gpu_autotune_level=4 --auth_token=**** --password **** "
                                         "--api-key **** --xla_gpu_enable_triton_gemm=false")
    assert a.env["TORCH_LOGS"] == " ".join(["****"] * 9)
    assert a.env["TRITON_CACHE_MANAGER"] == "Authorization: ****"
    assert a.env["CUDA_CACHE_PATH"] == '{"api_token": "****"}'
    assert a.env["JAX_DUMP_IR_TO"] == "gs://bucket/basic/****/ir"
    assert a.cuda.declared["NVIDIA_REQUIRE_CUDA"] == (
        "cuda>=12.1 brand=tesla,driver>=470,driver<471 --auth_token=**** password = ****")
    # undocumented names under allowed prefixes: present, value withheld
    for name in ("CUDA_ACCESSKEY", "NVIDIA_NGC_CREDS", "JAX_PRIVKEY", "TORCH_HUB_BEARER", "TRITON_CACHE_URL"):
        assert a.env[name] == "****", name
    for refused in ("TORCH_HUB_PAT", "TF_VAR_db_pass", "NVIDIA_API_KEY", "HF_TOKEN", "TF_CLI_ARGS"):
        assert refused not in a.env
    assert "TORCH_HUB_PAT" not in attack.outputs["file a.toml"].decode()
    refusals = ("lock (refused value)", "build-image (refused value)")
    for label, code in attack.codes.items():  # every command ran to a verdict, none refused its input
        if label in refusals:
            continue
        assert code in ((0, 1) if label.startswith(("diff", "check", "lock")) else (0,)), (label, code)
    # The refused value is named by its key, and nothing is written
    for label in refusals:
        err = attack.outputs[f"{label}: stderr"].decode()
        assert attack.codes[label] == 2 and "env.TORCH_CUDA_ARCH_LIST" in err, (label, err)
    written = ("file lock-refused", "file image-refused/Dockerfile")
    assert not any(k.startswith(written) for k in attack.outputs)
    # The renderers ran and wrote their files (lock exits 1: the attack packages cannot be locked).
    assert attack.codes["build-image --dockerfile-only"] == 0
    for name in ("lock/requirements.txt", "lock/conda-lock.yml", "image/Dockerfile", "image/snapshot.toml",
                 "sbom.cdx.json", "sbom-d.cdx.json"):
        assert f"file {name}" in attack.outputs, name
    assert attack.snapshots["e.toml"].project is not None
    assert attack.snapshots["f.toml"].project is not None and attack.snapshots["f.toml"].cuda is not None
    for name in ("g.toml", "h.json"):
        project = attack.snapshots[name].project
        assert project is not None and project.remote is not None and "****" in project.remote, name


def test_lookalikes_come_out_unchanged(attack: Attack) -> None:
    a, c, d, g = (attack.snapshots[n] for n in ("a.toml", "c.toml", "d.toml", "g.toml"))
    assert a.python is not None and a.conda is not None and a.cuda is not None
    sources = [p.source for p in a.python.packages if p.source is not None]
    kept: list[str] = [s.url for s in sources if s.url]
    kept += [v for s in sources for v in (s.commit, s.requested_revision) if v]
    kept += list(a.python.indexes) + list(a.conda.requested_specs)
    kept += [pkg.requested_spec or "" for pkg in a.conda.packages]
    kept += list(a.env.values()) + list(g.env.values())
    kept += [a.cuda.declared.get("NVIDIA_REQUIRE_CUDA", "")]
    kept += [s.project.remote for s in (c, attack.snapshots["b.json"], d) if s.project and s.project.remote]
    for what in attack.plan.lookalikes:
        assert any(what == value or (" " in what and what in value) for value in kept), what
    assert len(attack.plan.lookalikes) >= 40
    # --anonymize replaces whole path components: HOME is <root>/ho, <root>/home2 is not under it.
    root = attack.root
    assert d.env["LD_LIBRARY_PATH"] == f"{root}/home2/cache/lib:~/lib:/usr/local/cuda/lib64"
    assert d.project is not None and d.project.remote == "git@github.com:org/repo.git"


def test_lookalikes_come_out_unchanged_in_reports(attack: Attack) -> None:
    # Reports pass once more through redact_text as a whole (cli's Console.report): requirements
    # and settings of secret-word names in diff's advice and fixes come out as written.
    assert len(attack.plan.in_reports) >= 10
    for label, what in attack.plan.in_reports:
        shown = " ".join(attack.outputs[label].decode().split()).replace("&lt;", "<")
        assert what in shown, (label, what)

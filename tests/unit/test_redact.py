"""redact: each rule as a table (what it removes, the look-alikes it must leave alone), and pip's
own test vectors (where envsnap is stricter, and why)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsnap.redact import REDACTED, is_secret_name, redact_text, redact_url

# --- rule 1: URL userinfo goes whole, but for PEP 610 placeholders and ssh user names --------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://TOKEN@host/x", "https://****@host/x"),
        ("https://TOKEN:@host/x", "https://****@host/x"),
        ("https://TOKEN:x-oauth-basic@github.com/o/r.git", "https://****@github.com/o/r.git"),
        ("https://user:pass@host/simple", "https://****@host/simple"),
        ("git+https://git@github.com/o/r.git", "git+https://****@github.com/o/r.git"),
        ("ssh://builder:pw@host/r.git", "ssh://****@host/r.git"),  # a password: all of it goes
        # kept
        ("ssh://builder@host/r.git", "ssh://builder@host/r.git"),
        ("git+ssh://git@github.com/o/r.git", "git+ssh://git@github.com/o/r.git"),
        ("svn+ssh://deploy@svn.example/trunk", "svn+ssh://deploy@svn.example/trunk"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("https://${PIP_USER}:${PIP_TOKEN}@host/x", "https://${PIP_USER}:${PIP_TOKEN}@host/x"),
        ("https://${TOKEN}@host/x", "https://${TOKEN}@host/x"),
        ("https://host:8443/simple", "https://host:8443/simple"),
        ("http://[::1]:8080/simple", "http://[::1]:8080/simple"),
        ("git+https://github.com/o/r.git@v1.0", "git+https://github.com/o/r.git@v1.0"),
        ("https://registry.example/@scope/pkg", "https://registry.example/@scope/pkg"),
    ],
)
def test_userinfo(url: str, expected: str) -> None:
    assert redact_url(url) == expected


# --- rule 2: a password holding "@" (or "/", "?", "#") goes whole ----------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:p@ss@host/simple", "https://****@host/simple"),
        ("https://user:p@ss:w@rd@host/simple", "https://****@host/simple"),
        ("https://user:pa/ss@host/simple", "https://****@host/simple"),
        ("https://user:pa?ss#x@host/simple", "https://****@host/simple"),
        ("postgres://app:p@ss@db:5432/prod", "postgres://****@db:5432/prod"),
        ("admin:p@ss@db.internal:5432", "****@db.internal:5432"),  # DSN without a scheme
        ("dsn=admin:hunter2@db:5432", "dsn=****@db:5432"),
    ],
)
def test_password_with_separators(url: str, expected: str) -> None:
    assert redact_text(url) == expected


# --- rule 3: query and fragment values are masked unless the name is harmless ----------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/x.whl?token=abc", "https://h/x.whl?token=****"),
        ("https://acct.blob.core.windows.net/c/x.whl?sv=2022-11-02&se=2030&sig=AbC%2F%3D",
         "https://acct.blob.core.windows.net/c/x.whl?sv=****&se=****&sig=****"),
        ("https://b.s3.amazonaws.com/x.whl?X-Amz-Credential=AKIA%2F&X-Amz-Signature=ab12",
         "https://b.s3.amazonaws.com/x.whl?X-Amz-Credential=****&X-Amz-Signature=****"),
        ("https://h/x?RAWTOKEN", "https://h/x?****"),  # a bare value
        ("https://h/x?a=1;key=2", "https://h/x?a=****;key=****"),
        ("https://h/x#access_token=abc&egg=x", "https://h/x#access_token=****&egg=x"),
        # kept
        ("https://h/x.tar.gz#sha256=0123abcd&subdirectory=pkg", "https://h/x.tar.gz#sha256=0123abcd&subdirectory=pkg"),
        ("git+https://h/o/r.git#egg=r&subdirectory=src/r", "git+https://h/o/r.git#egg=r&subdirectory=src/r"),
        ("https://h/archive?ref=main&branch=dev&tag=v1&format=zip",
         "https://h/archive?ref=main&branch=dev&tag=v1&format=zip"),
        ("https://h/x.whl?token=${HF_TOKEN}", "https://h/x.whl?token=${HF_TOKEN}"),
        ("https://h/x.whl?empty=", "https://h/x.whl?empty="),
        ("https://h/readme#install", "https://h/readme#install"),
    ],
)
def test_query_and_fragment(url: str, expected: str) -> None:
    assert redact_url(url) == expected


# --- rule 4: conda's /t/<token>/ path segment, on every host ---------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://conda.anaconda.org/t/tk-1/conda-forge/linux-64", "https://conda.anaconda.org/t/****/conda-forge/linux-64"),
        ("https://conda.corp.example/t/abc123/internal/noarch/x.conda",
         "https://conda.corp.example/t/****/internal/noarch/x.conda"),
        ("http://10.0.0.5:8000/t/abc/chan", "http://10.0.0.5:8000/t/****/chan"),
        ("https://quetz.example/t/TOKEN", "https://quetz.example/t/****"),
        ("file:///data/t/cache/x.whl", "file:///data/t/cache/x.whl"),  # a local directory
        ("https://h/pkgs/t-shirts/x", "https://h/pkgs/t-shirts/x"),
    ],
)
def test_conda_token_segment(url: str, expected: str) -> None:
    assert redact_url(url) == expected



@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dl.cloudsmith.io/Ab12Cd34Ef56Gh78/acme/repo/python/simple/",
         "https://dl.cloudsmith.io/****/acme/repo/python/simple/"),
        ("https://dl.cloudsmith.io/public/acme/repo/python/simple/",
         "https://dl.cloudsmith.io/public/acme/repo/python/simple/"),
        ("https://u:k3y@dl.cloudsmith.io/basic/acme/repo/python/simple/",
         "https://****@dl.cloudsmith.io/basic/acme/repo/python/simple/"),
        ("https://pypi.fury.io/1a2B3c4D5e6F7g8H/acme/", "https://pypi.fury.io/****/acme/"),
        ("https://pypi.fury.io/acme/", "https://pypi.fury.io/acme/"),  # a public account
        ("https://pypi.fury.io/acme/numpy/", "https://pypi.fury.io/acme/numpy/"),
        ("https://badge.fury.io/py/xlrd.svg", "https://badge.fury.io/py/xlrd.svg"),
        # Only these hosts: elsewhere a long first segment is a path.
        ("https://pypi.org/Ab12Cd34Ef56Gh78/simple/", "https://pypi.org/Ab12Cd34Ef56Gh78/simple/"),
    ],
)
def test_token_in_the_path_of_hosted_indexes(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_url(expected) == expected
    assert redact_text(f"--extra-index-url {url} x") == f"--extra-index-url {expected} x"

# --- rule 5: name=value and --flag values whose name says "secret" ----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--xla_gpu_autotune_level=4 --auth_token=abc", "--xla_gpu_autotune_level=4 --auth_token=****"),
        ("--password hunter2 --verbose", "--password **** --verbose"),
        ("--api-key=xyz", "--api-key=****"),
        ("-passphrase s3cret", "-passphrase ****"),
        ("TF_VAR_db_pass=hunter2", "TF_VAR_db_pass=****"),
        ("a=1,token=xyz", "a=1,token=****"),
        ("sig=abc&sv=2022", "sig=****"),  # to the next space: a secret's tail is never kept
        # kept
        ("--xla_dump_hlo_pass_re=.* --xla_dump_to=/tmp/x", "--xla_dump_hlo_pass_re=.* --xla_dump_to=/tmp/x"),
        ("--key_value_store=etcd", "--key_value_store=etcd"),
        ("--password --next", "--password --next"),
        ("--token=${CI_TOKEN}", "--token=${CI_TOKEN}"),
        ("max_split_size_mb:128,expandable_segments:True", "max_split_size_mb:128,expandable_segments:True"),
        ("cuda>=12.1 brand=tesla,driver>=470,driver<471", "cuda>=12.1 brand=tesla,driver>=470,driver<471"),
    ],
)
def test_named_values(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("TORCH_HUB_PAT", True), ("TF_VAR_db_pass", True), ("SMB_PWD", True), ("NVIDIA_API_KEY", True),
        ("HF_TOKEN", True), ("MY_APIKEY", True), ("NVIDIA_LICENSE_SERVER", True), ("OAUTH_CLIENT", True),
        ("--auth_token", True), ("sig", True), ("X-Amz-Signature", True), ("DB_PASSWORD", True),
        ("PATH", False), ("LD_LIBRARY_PATH", False), ("CUDA_VISIBLE_DEVICES", False),
        ("xla_dump_hlo_pass_re", False), ("key_value_store", False), ("NCCL_IB_PKEY", False),
        ("COMPASS", False), ("TF_CPP_MIN_LOG_LEVEL", False), ("", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


# --- rule 6: token shapes, whole tokens only ---------------------------------------------------

_KEY = "k3Y9" * 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"ghp_{_KEY}", REDACTED), (f"github_pat_{_KEY}", REDACTED), (f"glpat-{_KEY}", REDACTED),
        (f"hf_{_KEY}", REDACTED), ("xoxb-1234567890-abcdef", REDACTED), ("AKIAABCDEFGHIJKLMNOP", REDACTED),
        (f"pypi-AgEIcHlwaS5vcmc{_KEY}", REDACTED), (f"sk-{_KEY}", REDACTED),
        (f"sk-proj-{_KEY}", REDACTED), (f"sk-ant-api03-{_KEY}-AA", REDACTED),
        (f"see https://h/{'hf_' + _KEY}/x", "see https://h/****/x"),
        # kept: look-alikes
        ("sk-image-segmentation-pipeline", "sk-image-segmentation-pipeline"),
        ("https://github.com/acme/sk-learn-v2-experiments-2024", "https://github.com/acme/sk-learn-v2-experiments-2024"),
        ("hf_transfer", "hf_transfer"),
        ("risk-assessment-dashboard-tools", "risk-assessment-dashboard-tools"),
        (f"my_ghp_{_KEY}", f"my_ghp_{_KEY}"),  # not a whole token
        ("0123456789abcdef" * 4, "0123456789abcdef" * 4),  # a sha256 is not a key
    ],
)
def test_token_shapes(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- rule 7: HTTP credentials after Authorization / Proxy-Authorization go whole --------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer Zs1", "Authorization: ****"),
        ("authorization:Basic dXNlcjpwYXNz", "authorization:****"),
        ("Proxy-Authorization: Basic Zs2==", "Proxy-Authorization: ****"),
        ('-H "Authorization: Bearer Zs3" -v', '-H "Authorization: ****" -v'),
        ("-H 'Authorization: token Zs4' https://h/x", "-H 'Authorization: ****' https://h/x"),
        ('{"Authorization": "Bearer Zs5", "Accept": "json"}', '{"Authorization": "****", "Accept": "json"}'),
        ('Authorization: Digest username="u", response="Zs6"\nAccept: */*',
         "Authorization: ****\nAccept: */*"),
        ("Authorization=Bearer Zs7", "Authorization=****"),
        # kept
        ("Authorization: ${TOKEN_HEADER}", "Authorization: ${TOKEN_HEADER}"),
    ],
)
def test_authorization_headers(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- rule 8: assignments with spaces, quoted JSON/YAML keys, connection strings ---------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password = Zs1", "password = ****"),
        ("db_password  =  'Zs 2'", "db_password  =  '****'"),
        ('{"api_token": "Zs3"}', '{"api_token": "****"}'),
        ('{"api_token":"Zs4","user":"ci"}', '{"api_token":"****","user":"ci"}'),
        ("{'secret': 'Zs5'}", "{'secret': '****'}"),
        ('{"password": "Zs\\"6tail"}', '{"password": "****"}'),  # an escaped quote inside
        ("token: Zs7", "token: ****"),
        ("apiKey: Zs8", "apiKey: ****"),  # camelCase names
        ('{"auth": {"password": "Zs9"}}', '{"auth": {"password": "****"}}'),
        ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zs10==;EndpointSuffix=core.windows.net",
         "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=****"),
        ("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=Zs11=",
         # inside a URL the path-parameter rule masks every parameter not known to be harmless
         "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=****;SharedAccessKey=****"),
        ("BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022&sig=Zs12",
         "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=****&sig=****"),
        ("Server=db;Database=app;User Id=sa;Password=Zs13;",
         "Server=db;Database=app;User Id=sa;Password=****"),
        ("Driver={ODBC};Server=db;Uid=sa;Pwd=Zs14;", "Driver={ODBC};Server=db;Uid=sa;Pwd=****"),
        # kept
        ("numpy == 1.26.4", "numpy == 1.26.4"),
        ('{"name": "torch", "version": "2.5.1"}', '{"name": "torch", "version": "2.5.1"}'),
        ("AccountName=acct;EndpointSuffix=core.windows.net",
         "AccountName=acct;EndpointSuffix=core.windows.net"),
        ("password = ${DB_PASSWORD}", "password = ${DB_PASSWORD}"),
    ],
)
def test_assignments_json_keys_and_connection_strings(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [("AccountKey", True), ("SharedAccessKey", True), ("SharedAccessSignature", True), ("Pwd", True),
     ("Password", True), ("apiKey", True), ("clientSecret", True), ("AccountName", False),
     ("EndpointSuffix", False), ("DefaultEndpointsProtocol", False), ("SharedAccessKeyName", False)],
)
def test_camel_case_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


# --- rule 9: flags whose value starts with "-"; ;name= parameters in a URL's path -------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--password -Zs1", "--password ****"),
        ("--api-key -Zs2 --verbose", "--api-key **** --verbose"),
        ("-passphrase -Zs3", "-passphrase ****"),
        ("https://h.example/simple;token=Zs4/x", "https://h.example/simple;token=****/x"),
        ("https://h.example/dl;jsessionid=Zs5", "https://h.example/dl;jsessionid=****"),
        ("https://h.example/a;v=1;sig=Zs6/b.whl", "https://h.example/a;v=****;sig=****/b.whl"),
        # kept
        ("--password --next", "--password --next"),
        ("--xla_gpu_autotune_level -1", "--xla_gpu_autotune_level -1"),
        ("TORCH_CUDA_ARCH_LIST=8.0;8.6+PTX", "TORCH_CUDA_ARCH_LIST=8.0;8.6+PTX"),
    ],
)
def test_dash_led_flag_values_and_path_parameters(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- rule 10: vendor token shapes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sk_live_" + "Zs1aB2cD3eF4gH5iJ6kL7mN8", REDACTED),
        ("rk_live_" + "Zs2aB2cD3eF4gH5iJ6kL7mN8", REDACTED),
        ("sk_test_" + "Zs3aB2cD3eF4gH5iJ6kL7mN8", REDACTED),
        ("ya29.a0AfH6SMZs4" + "x" * 30, REDACTED),
        ("token ya29.c.b0Zs5-AbCdEf_0123456789abcdef end", "token **** end"),
        ("dapi" + "0123456789abcdef" * 2, REDACTED),
        ("hvs.CAESIZs6" + "a1B2" * 6, REDACTED),
        ("SG.Zs7aaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", REDACTED),
        ("gldt-Zs8" + "a1B2" * 5, REDACTED),
        ("r8_Zs9" + "a1B2" * 9, REDACTED),
        # kept: publishable keys are public by design, and words that start the same
        ("pk_live_j5krY8XTgIcDaHDb3YrsAfCl", "pk_live_j5krY8XTgIcDaHDb3YrsAfCl"),
        ("task_test_abcdefghijklmnopq", "task_test_abcdefghijklmnopq"),
        ("ya29.x", "ya29.x"),
        ("dapi-client", "dapi-client"),
    ],
)
def test_vendor_token_shapes(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- rule 11: random-looking path segments on hosts envsnap does not know ----------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://pkgs.corp.example/basic/Zq3f9a1b2c3d4e5f6a7b8c9/simple",
         "https://pkgs.corp.example/basic/****/simple"),
        ("https://pkgs.corp.example/Ab12Cd34Ef56Gh78Ij90/pypi/simple/", "https://pkgs.corp.example/****/pypi/simple/"),
        ("https://dl.corp.example/0f3c9a7e2b4d6f81a3c5e7092b4d6f81/x-1.0.tar.gz",
         "https://dl.corp.example/****/x-1.0.tar.gz"),
        ("https://dl.corp.example/t0k3n-9Xq2Lm8Rw4Zp7Vb1Nc/simple", "https://dl.corp.example/****/simple"),
        ("git+https://git.corp.example/A1b2C3d4E5f6G7h8I9j0/repo.git@v1.0",
         "git+https://git.corp.example/****/repo.git@v1.0"),
        # kept: real index layouts, names, versions, wheel names, hashes on known hosts
        ("https://pkgs.corp.example/simple/nvidia-cusparselt-cu12/", "https://pkgs.corp.example/simple/nvidia-cusparselt-cu12/"),
        ("https://artifactory.corp.example/artifactory/api/pypi/pypi-remote/simple",
         "https://artifactory.corp.example/artifactory/api/pypi/pypi-remote/simple"),
        ("https://gitlab.corp.example/api/v4/projects/12345678/packages/pypi/simple",
         "https://gitlab.corp.example/api/v4/projects/12345678/packages/pypi/simple"),
        ("https://pkgs.dev.azure.com/org/proj/_packaging/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/pypi/simple/",
         "https://pkgs.dev.azure.com/org/proj/_packaging/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/pypi/simple/"),
        ("https://mirror.corp.example/whl/torch-2.5.1%2Bcu121-cp311-cp311-manylinux_2_28_x86_64.whl",
         "https://mirror.corp.example/whl/torch-2.5.1%2Bcu121-cp311-cp311-manylinux_2_28_x86_64.whl"),
        ("https://files.pythonhosted.org/packages/3f/0d/0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d/x-1.0.whl",
         "https://files.pythonhosted.org/packages/3f/0d/0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d/x-1.0.whl"),
        ("https://github.com/o/r/archive/0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d.zip",
         "https://github.com/o/r/archive/0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d.zip"),
        ("git+https://git.corp.example/ml/train.git@0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d",
         "git+https://git.corp.example/ml/train.git@0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d"),
        ("file:///data/Zq3f9a1b2c3d4e5f6a7b8c9/x.whl", "file:///data/Zq3f9a1b2c3d4e5f6a7b8c9/x.whl"),
        ("https://conda.corp.example/internal/linux-64/pytorch-2.1.0-cuda120_py311h7a51e26_300.conda",
         "https://conda.corp.example/internal/linux-64/pytorch-2.1.0-cuda120_py311h7a51e26_300.conda"),
    ],
)
def test_random_path_segments_on_unknown_hosts(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_url(expected) == expected


def test_requested_revision_and_vcs_fields_get_the_text_rules() -> None:
    from envsnap.probes.python import parse_source

    token = "ghp_" + "Zs1aB2cD3eF4gH5iJ6kL7mN8oP9"
    source = parse_source(json.dumps({
        "url": "git+https://github.com/o/r.git", "subdirectory": f"pkg?token={token}",
        "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": token}}))
    assert source.requested_revision == REDACTED and token not in repr(source)
    kept = parse_source(json.dumps({"url": "git+https://github.com/o/r.git",
                                    "vcs_info": {"vcs": "git", "commit_id": "a" * 40,
                                                 "requested_revision": "release/v2.1"}}))
    assert (kept.requested_revision, kept.commit) == ("release/v2.1", "a" * 40)


# --- rule 12: look-alikes of secret names: requirements, classifiers, license metadata, keys ----
# Each "kept" row was mangled by the rules before (oauthlib==1.0 became oauthlib=****).


@pytest.mark.parametrize(
    "text",
    [
        # PEP 508 requirements: "==" and "===" compare, with every secret-word project name
        "oauthlib==1.0",
        "pip install oauthlib==3.2.2",
        "python -m pip install secretstorage==3.3.3",
        "requests-oauthlib==2.0.0",
        "google-auth===2.35.0",
        "authlib == 1.3.1",
        "tokenizers==0.19.1,!=0.19.2",
        "tokenizers==0.19.*",
        'tiktoken==0.7.0; python_version >= "3.9"',
        "asttokens==2.4.1",
        "google-auth-oauthlib==1.2.1",
        "tokenize-rt==6.0.0",
        "pip install tokenizers==0.19.1 --no-deps",
        "transformers 4.40.0 requires tokenizers<0.20,>=0.19, but tokenizers 0.20.0 is installed. "
        "Fix: pip install tokenizers==0.19.1",
        # versions and switches as values: diff, TOML and YAML-ish lines
        "tokenizers: 0.19.1 -> 0.20.0",
        'tokenizers = "0.19.1"',
        "oauthlib: 3.2.2",
        "export TOKENIZERS_PARALLELISM=false",
        '"TOKENIZERS_PARALLELISM": "true"',
        '"auth_token": null',
        # conda specs: name=version, channel::name=version, name=version=build
        "tokenizers=0.19.1",
        "conda-forge::tiktoken=0.7.0",
        "secretstorage=3.3.3=pyh707e725_0",
        "google-auth=2.35.*",
        "conda install -c conda-forge tokenizers=0.19.1 oauthlib=3.2.2",
        # trove classifiers: "::" is no "name: value"
        "License :: OSI Approved :: MIT License",
        "Classifier: License :: OSI Approved :: Apache Software License",
        '"classifiers": ["License :: OSI Approved :: BSD License"]',
        # license metadata under license names (PEP 639, core metadata, pyproject, SBOM JSON)
        '"license": "MIT"',
        "License: Apache-2.0",
        "License-Expression: MIT OR Apache-2.0",
        '"license": "LicenseRef-NVIDIA-Proprietary"',
        "License-File: LICENSE.txt",
        "License-File: third_party/VulkanMemoryAllocator/LICENSE.txt",
        "--license-file LICENSE",
        "--license-file=licenses/LICENSE-APACHE",
        'license_expression = "BSD-3-Clause"',
        "GRB_LICENSE_FILE=/opt/gurobi/gurobi.lic",
        "LM_LICENSE_FILE=27000@flexlm.corp.example",
        # pipdeptree's JSON: "key" is a lookup key
        '{"key": "oauthlib", "package_name": "oauthlib", "installed_version": "3.2.2", '
        '"required_version": ">=3.0.0"}',
        '"key": "nvidia-cublas-cu12"',
        '"key": "beautifulsoup4"',
    ],
)
def test_lookalikes_of_secret_names_are_kept(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # not a version after "==": an assignment of "=value"
        ("token==Zs1abc", "token==****"),
        ("password==hunter2", "password==****"),
        ("oauthlib==Zs2abc", "oauthlib==****"),
        ("tokenizers=Zq3f9a1b2c3d4e5f6a7b", "tokenizers=****"),
        # a number is a PIN; a local label or a build string can hold anything
        ("password = 2024", "password = ****"),
        ("PIN=1234", "PIN=****"),
        ("token: 1.0+Zs3", "token: ****"),
        ("token: 1.0=Zq3f9a1b2c3d4e5f6a7b8c9", "token: ****"),
        # license keys say KEY or TOKEN
        ("NGC_LICENSE_KEY=Zs4", "NGC_LICENSE_KEY=****"),
        ("--license-key Zs5", "--license-key ****"),
        ("GRB_LICENSE_KEY=Zs6", "GRB_LICENSE_KEY=****"),
        ("license_key: Zs7", "license_key: ****"),
        ("license_token=Zs8", "license_token=****"),
        # under a license name or a bare key, a value that looks like a credential
        ("KENDO_UI_LICENSE=Zq3f9a1b2c3d4e5f6a7b8c9", "KENDO_UI_LICENSE=****"),
        ("--license 12345-67890-12345-67890", "--license ****"),
        ('"license": "ae36ac20-16e6-acd2-f242-4da6e765fa0a"', '"license": "****"'),
        ('{"username": "u", "key": "9f86d081884c7d659a2feaa0c55ad015"}', '{"username": "u", "key": "****"}'),
        ("--key Zq3f9a1b2c3d4e5f6a7b8c9", "--key ****"),
        # a bare key is still a secret name where it is one part of the name
        ("api_key=numpy", "api_key=****"),
    ],
)
def test_secret_values_beside_the_lookalikes(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- the rule set as a whole -------------------------------------------------------------------

_SECRET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=12,
                  max_size=24).map(lambda s: "Zq" + s)
_PLACEMENTS = (
    "https://{s}@h/x", "https://{s}:@h/x", "https://u:{s}@h/x", "https://u:p@{s}@h/x",
    "https://h/x?token={s}", "https://h/x?sig={s}&egg=y", "git+https://{s}:x-oauth-basic@h/o.git@v1",
    "https://h/t/{s}/chan/linux-64", "corp=https://u:{s}@h/simple", "--auth_token={s}",
    "--password {s}", "postgres://a:{s}@db/x", "a:{s}@db:5432", "x=1 api_key={s} y=2",
    "https://h/simple?{s}",
    # the rules of issue 17: headers, spaced assignments, JSON/YAML keys, connection strings,
    # vendor shapes, dash-led flag values, path parameters, requested revisions
    "Authorization: Bearer {s}", "Proxy-Authorization: Basic {s}", '-H "Authorization: token {s}"',
    "password = {s}", '{{"api_token": "{s}"}}', "{{'client_secret': '{s}', 'x': 1}}", "token:  {s}",
    "AccountName=a;AccountKey={s};EndpointSuffix=core.windows.net", "Server=db;Pwd={s};",
    "sk_live_{s}", "rk_test_{s}", "ya29.{s}{s}", "--password -{s}", "--api-key -{s} --verbose",
    "https://h/simple;token={s}/x", "https://h/a;sig={s}", "git+https://h/o/r.git@ghp_{s}{s}",
    # beside the look-alikes of rule 12
    "token=={s}", "oauthlib==1.0 --token {s}", "NGC_LICENSE_KEY={s}", "--license-key {s}",
    "License :: OSI Approved :: MIT License token: {s}", "tokenizers=0.19.1 password={s}",
)


@settings(max_examples=800)  # every template a score of times
@given(secret=_SECRET, template=st.sampled_from(_PLACEMENTS))
def test_no_placement_keeps_the_secret_and_redaction_is_idempotent(secret: str, template: str) -> None:
    out = redact_text(template.format(s=secret))
    assert secret not in out
    assert redact_text(out) == out


@given(st.text(max_size=60))
def test_redact_text_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


# --- pip's test vectors ------------------------------------------------------------------------


# Vectors from pip's tests/unit/test_utils.py::test_redact_auth_from_url. pip keeps the user
# part (user:****@); envsnap drops userinfo whole, because the user part is often the token
# (https://TOKEN@host, https://TOKEN:x-oauth-basic@host).
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass@domain.tld/project/tags/v0.2", "https://****@domain.tld/project/tags/v0.2"),
        ("https://domain.tld/project/tags/v0.2", "https://domain.tld/project/tags/v0.2"),
        ("https://user@domain.tld/project/trunk", "https://****@domain.tld/project/trunk"),
        ("https://user:@domain.tld/project/trunk", "https://****@domain.tld/project/trunk"),
        ("http://domain.tld/project/trunk", "http://domain.tld/project/trunk"),
        ("https://accesstoken@example.com/abc", "https://****@example.com/abc"),
        ("https://user%3Aname:%23%40%5E@example.com", "https://****@example.com"),
        ("git+https://user:token@github.com/o/r.git@v1", "git+https://****@github.com/o/r.git@v1"),
    ],
)
def test_redact_url_against_pip_vectors(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_pep610_env_placeholders_and_ssh_users_are_kept() -> None:
    assert redact_url("https://${USER}:${TOKEN}@h/x") == "https://${USER}:${TOKEN}@h/x"
    assert redact_url("ssh://git@github.com/o/r.git") == "ssh://git@github.com/o/r.git"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgres://app:hunter2@db:5432/prod", "hunter2"),
        ("admin:hunter2@db.internal:5432", "hunter2"),
        ("token ghp_0123456789abcdefghijABCDEFGHIJ in text", "ghp_0123456789abcdefghijABCDEFGHIJ"),
        ("hf_abcdefghijklmnopqrstuvwxyz12", "hf_abcdefghijklmnopqrstuvwxyz12"),
        ("AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_redact_text_removes_secrets(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert "****" in out


def test_plain_values_are_untouched() -> None:
    for value in (":4096:8", "0", "/usr/local/cuda/lib64:/opt/lib", "eth0,ib0", "max_split_size_mb:128"):
        assert redact_text(value) == value


def test_scp_style_remote_keeps_git_user() -> None:
    assert redact_url("git@github.com:o/r.git") == "git@github.com:o/r.git"
    assert redact_url("https://x:y@gitlab.com/o/r.git") == "https://****@gitlab.com/o/r.git"


def test_uv_named_index_and_unparseable_urls_are_redacted() -> None:
    assert redact_url("corp=https://alice:s3cr3t@pypi.corp/simple") == "corp=https://****@pypi.corp/simple"


def test_anaconda_token_segment_is_redacted() -> None:
    url = "https://conda.anaconda.org/t/tk-1234abcd/conda-forge/linux-64/numpy-2.1.0-py311_0.conda"
    assert redact_url(url) == (
        "https://conda.anaconda.org/t/****/conda-forge/linux-64/numpy-2.1.0-py311_0.conda")

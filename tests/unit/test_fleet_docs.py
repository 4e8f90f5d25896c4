"""docs/fleet.md: its Kubernetes manifests are valid against the API schemas and name one file
per node; its sbatch script and every envsnap command line in it parse."""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # no py.typed; ships the API schemas
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (kubernetes-validate's dependency)

from envsnap.cli import build_parser
from envsnap.cli.capture import output_path

DOC = Path(__file__).resolve().parents[2] / "docs" / "fleet.md"
K8S_VERSION = "1.37"  # the schemas kubernetes-validate 1.37.0 ships
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
_K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def blocks(lang: str) -> list[str]:
    return [body for tag, body in _FENCE.findall(DOC.read_text(encoding="utf-8")) if tag == lang]


def manifests() -> list[dict[str, Any]]:
    docs = [d for body in blocks("yaml") for d in yaml.safe_load_all(body) if d is not None]
    assert docs, "docs/fleet.md has no ```yaml manifest"
    return docs


def sbatch_script() -> str:
    (script,) = [b for b in blocks("bash") if b.startswith("#!/bin/bash\n")]
    return script


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def capture_containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = pod_spec(doc)
    for field in ("initContainers", "containers"):
        for container in spec.get(field, []):
            if container.get("command", [])[:2] == ["envsnap", "capture"]:
                yield field, container


def kubernetes_expand(arg: str, env: dict[str, str]) -> str:
    """What the kubelet does to ``$(VAR)`` in command/args: replaced when VAR is a variable of
    the container, left as it is otherwise (kubernetes.io: 'Define dependent environment
    variables'). The test asserts every reference is defined, so leaving it is never relied on."""
    return _K8S_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), arg)


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid_against_the_api_schema(doc: dict[str, Any]) -> None:
    # strict=True: an unknown field (a typo like 'imagee') is an error, as the API server's
    # strict field validation (kubectl's default) makes it.
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validation_would_catch_a_typo_and_a_wrong_type() -> None:
    doc = manifests()[0]
    typo = copy.deepcopy(doc)
    container = pod_spec(typo)["initContainers"][0]
    container["imagee"] = container.pop("image")
    with pytest.raises(kubernetes_validate.ValidationError, match="imagee"):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)
    wrong = copy.deepcopy(doc)
    pod_spec(wrong)["initContainers"][0]["command"] = "envsnap capture"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, K8S_VERSION, strict=True)


def test_the_doc_has_a_daemonset_and_an_indexed_job_that_capture() -> None:
    kinds = {(d["kind"], d["spec"].get("completionMode")) for d in manifests()
             if any(capture_containers(d))}
    assert ("DaemonSet", None) in kinds
    assert ("Job", "Indexed") in kinds


def _pod_hostname(doc: dict[str, Any], node: str, index: int) -> str:
    """The host name a pod of ``doc`` sees on ``node`` (what ``{hostname}`` becomes)."""
    if pod_spec(doc).get("hostNetwork"):
        return node  # a hostNetwork pod shares the node's UTS namespace
    if doc["kind"] == "Job" and doc["spec"].get("completionMode") == "Indexed":
        return f"{doc['metadata']['name']}-{index}"  # $(job-name)-$(index)
    return f"{doc['metadata']['name']}-x7k2p"  # the pod's generated name


@pytest.mark.parametrize("doc", [d for d in manifests() if any(capture_containers(d))],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_capture_writes_one_file_per_node_into_the_shared_volume(doc: dict[str, Any]) -> None:
    spec = pod_spec(doc)
    indexed = doc["kind"] == "Job" and doc["spec"].get("completionMode") == "Indexed"
    (field, container), = capture_containers(doc)
    if doc["kind"] == "DaemonSet":
        # A DaemonSet's containers restart when they exit: a one-shot capture is an init container.
        assert field == "initContainers"
    command: list[str] = container["command"]
    template = command[command.index("-o") + 1]

    # Every $(VAR) is a variable of this container, and NODE_NAME is the downward API's node name.
    env_from = {e["name"]: e for e in container.get("env", [])}
    for name in _K8S_VAR.findall(template):
        assert name in env_from, f"$({name}) in {template} is no env variable of the container"
    if "NODE_NAME" in env_from:
        assert env_from["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    if "{rank}" in template:
        assert indexed, "{rank} needs JOB_COMPLETION_INDEX, which only an Indexed Job sets"
    if "{hostname}" in template:
        assert indexed or spec.get("hostNetwork"), \
            "{hostname} is the pod's generated name here, not the node's"

    # The file lands in a volume every node shares (a claim; hostPath only on one node).
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mount = next(p for p in mounts if PurePosixPath(template).is_relative_to(p))
    assert {"persistentVolumeClaim", "hostPath"} & volumes[mounts[mount]].keys()

    # Two pods on two nodes name two files: expand as the kubelet, then as envsnap does.
    paths = set()
    for index, node in enumerate(("gpu-node-a.example.internal", "gpu-node-b.example.internal")):
        env = {"NODE_NAME": node}
        if indexed:
            env["JOB_COMPLETION_INDEX"] = str(index)
        path = output_path(kubernetes_expand(template, env), env,
                           hostname=_pod_hostname(doc, node, index), today="2026-11-29")
        assert PurePosixPath(path).parent == PurePosixPath(mount)
        assert node in path  # the report names the node, not only a pod or an index
        paths.add(path)
    assert len(paths) == 2


def test_reports_follow_each_capture() -> None:
    text = DOC.read_text(encoding="utf-8")
    bash = "\n".join(blocks("bash"))
    assert "envsnap fleet capture --ray" in bash
    assert "kubectl exec daemonset/envsnap-capture" in bash
    reports = [c["command"] for d in manifests() for c in pod_spec(d)["containers"]
               if c.get("command", [])[:3] == ["envsnap", "fleet", "report"]]
    assert reports, "no report Job"
    assert text.count("envsnap fleet report") >= 4  # Ray, Slurm, DaemonSet, Indexed Job


def test_sbatch_script_runs_one_capture_per_node_then_gates() -> None:
    script = sbatch_script()
    directives = [line.split(None, 1)[1] for line in script.splitlines()
                  if line.startswith("#SBATCH ")]
    assert "--ntasks-per-node=1" in directives
    assert any(d.startswith("--nodes=") for d in directives)
    assert "srun --ntasks-per-node=1 envsnap capture" in script
    lines = script.splitlines()
    capture = next(i for i, line in enumerate(lines) if "envsnap capture" in line)
    report = next(i for i, line in enumerate(lines) if line.startswith("envsnap fleet report"))
    assert capture < report and "--fail-on major" in lines[report]
    assert "set -e" in script  # a failed gate must stop the script before the training step
    # The -o template, as srun's task on the node gpu-03 (task 2) fills it.
    template = shlex.split(lines[capture])[-1].replace("$snaps", "snaps/4711")
    assert output_path(template, {"SLURM_PROCID": "2"}, hostname="gpu-03.cluster") \
        == "snaps/4711/gpu-03.toml"


def _envsnap_argvs() -> Iterator[list[str]]:
    """Every envsnap command line in the doc's shell blocks and manifests, as argv."""
    for body in blocks("bash"):
        for line in body.splitlines():
            code = line.split(" #", 1)[0].strip()
            if code.startswith("#") or "envsnap " not in code:
                continue
            words = shlex.split(code)
            for i, word in enumerate(words):
                if word == "envsnap":
                    yield words[i + 1:]
                    break
    for doc in manifests():
        for container in [*pod_spec(doc).get("initContainers", []), *pod_spec(doc)["containers"]]:
            if container.get("command", [""])[0] == "envsnap":
                yield container["command"][1:]


def test_every_envsnap_command_in_the_doc_parses() -> None:
    argvs = list(_envsnap_argvs())
    assert len(argvs) >= 7
    for argv in argvs:
        try:
            build_parser(argv).parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"envsnap {' '.join(argv)}: the CLI refuses it") from exc

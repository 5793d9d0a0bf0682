#!/usr/bin/env python3
"""Structural check of deploy/kubernetes/*.yaml: every document parses (PyYAML), has the
fields Kubernetes requires (apiVersion, kind, metadata.name), and the manifests keep the
promises deploy/ makes: lifeboatd runs as one replica with the Recreate strategy (the state
is flocked), its state on a PersistentVolumeClaim, the config from a ConfigMap, passwords
from a Secret, liveness /healthz and readiness /readyz, non-root with a read-only root
filesystem and every capability dropped; the CronJob runs `lifeboat ... backup --plan NAME`
with concurrencyPolicy Forbid. Every volume mounted is defined, every volume defined is
mounted, and each ConfigMap's lifeboat.toml parses as TOML.

Not a schema validation against the Kubernetes API (kubeconform is not installable from the
registries this machine reaches); exit 1 with one line per finding.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
problems: list[str] = []


def need(cond: bool, what: str) -> None:
    if not cond:
        problems.append(what)


def dig(obj, *path, default=None):
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            return default
    return obj


def check_pod(name: str, pod: dict, want_probes: bool) -> None:
    need(dig(pod, "securityContext", "runAsNonRoot") is True, f"{name}: pod securityContext.runAsNonRoot is not true")
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    mounted: set[str] = set()
    containers = pod.get("containers") or []
    need(len(containers) >= 1, f"{name}: no containers")
    for c in containers:
        cname = f"{name}/{c.get('name')}"
        need(bool(c.get("image")), f"{cname}: no image")
        sc = c.get("securityContext") or {}
        need(sc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem is not true")
        need(sc.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation is not false")
        need(dig(sc, "capabilities", "drop") == ["ALL"], f"{cname}: capabilities.drop is not [ALL]")
        for m in c.get("volumeMounts", []):
            mounted.add(m.get("name"))
            need(m.get("name") in volumes, f"{cname}: mounts undefined volume {m.get('name')!r}")
            need(str(m.get("mountPath", "")).startswith("/"), f"{cname}: mountPath {m.get('mountPath')!r} is not absolute")
        if want_probes:
            need(dig(c, "livenessProbe", "httpGet", "path") == "/healthz", f"{cname}: livenessProbe is not GET /healthz")
            need(dig(c, "readinessProbe", "httpGet", "path") == "/readyz", f"{cname}: readinessProbe is not GET /readyz")
    for v in volumes:
        need(v in mounted, f"{name}: volume {v!r} is defined but never mounted")
    kinds = {k for v in volumes.values() for k in v if k != "name"}
    need("configMap" in kinds, f"{name}: no ConfigMap volume (lifeboat.toml)")
    need("secret" in kinds, f"{name}: no Secret volume (password files)")


def main() -> int:
    docs = []
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "deploy/kubernetes"
    for path in sorted(where.glob("*.yaml")):
        try:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc is not None:
                    docs.append((path.name, doc))
        except yaml.YAMLError as e:
            problems.append(f"{path.name}: not YAML: {e}")
    by_kind: dict[str, list[dict]] = {}
    for fname, doc in docs:
        kind = doc.get("kind")
        need(bool(doc.get("apiVersion")), f"{fname}: a document without apiVersion")
        need(bool(kind), f"{fname}: a document without kind")
        need(bool(dig(doc, "metadata", "name")), f"{fname}: {kind} without metadata.name")
        by_kind.setdefault(kind, []).append(doc)

    for cm in by_kind.get("ConfigMap", []):
        text = dig(cm, "data", "lifeboat.toml")
        if text is not None:
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                problems.append(f"ConfigMap {cm['metadata']['name']}: lifeboat.toml is not TOML: {e}")
    config_maps = {c["metadata"]["name"] for c in by_kind.get("ConfigMap", [])}
    claims = {c["metadata"]["name"] for c in by_kind.get("PersistentVolumeClaim", [])}

    deployments = by_kind.get("Deployment", [])
    need(len(deployments) == 1, f"expected one Deployment, found {len(deployments)}")
    for d in deployments:
        name = f"Deployment {d['metadata']['name']}"
        need(dig(d, "spec", "replicas") == 1, f"{name}: replicas is not 1 (the state is flocked)")
        need(dig(d, "spec", "strategy", "type") == "Recreate", f"{name}: strategy is not Recreate")
        pod = dig(d, "spec", "template", "spec", default={})
        labels = dig(d, "spec", "template", "metadata", "labels", default={})
        selector = dig(d, "spec", "selector", "matchLabels", default={})
        need(bool(selector) and all(labels.get(k) == v for k, v in selector.items()), f"{name}: selector does not match the pod labels")
        check_pod(name, pod, want_probes=True)
        pvcs = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v]
        need(bool(pvcs), f"{name}: the state is not on a PersistentVolumeClaim")
        for claim in pvcs:
            need(claim in claims, f"{name}: claim {claim!r} is not defined")
        for v in pod.get("volumes", []):
            if "configMap" in v:
                need(v["configMap"]["name"] in config_maps, f"{name}: ConfigMap {v['configMap']['name']!r} is not defined")
        args = " ".join(dig(pod, "containers", 0, "args", default=[]))
        need("--config" in args and "--state" in args, f"{name}: lifeboatd is not given --config and --state")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        need(grace > 60, f"{name}: terminationGracePeriodSeconds {grace} is not above lifeboatd's 60s grace")
        for svc in by_kind.get("Service", []):
            sel = dig(svc, "spec", "selector", default={})
            need(all(labels.get(k) == v for k, v in sel.items()), f"Service {svc['metadata']['name']}: selector matches no pod")
    need(len(by_kind.get("Service", [])) >= 1, "no Service for lifeboatd")

    cronjobs = by_kind.get("CronJob", [])
    need(len(cronjobs) >= 1, "no CronJob")
    for cj in cronjobs:
        name = f"CronJob {cj['metadata']['name']}"
        need(dig(cj, "spec", "concurrencyPolicy") == "Forbid", f"{name}: concurrencyPolicy is not Forbid")
        need(len(str(dig(cj, "spec", "schedule", default="")).split()) == 5, f"{name}: schedule is not a 5-field cron")
        pod = dig(cj, "spec", "jobTemplate", "spec", "template", "spec", default={})
        need(pod.get("restartPolicy") in ("Never", "OnFailure"), f"{name}: restartPolicy must be Never or OnFailure")
        check_pod(name, pod, want_probes=False)
        c = dig(pod, "containers", 0, default={})
        argv = list(c.get("command", [])) + list(c.get("args", []))
        need(argv[:1] == ["lifeboat"], f"{name}: does not run the lifeboat CLI")
        need("backup" in argv and "--plan" in argv, f"{name}: does not run `lifeboat backup --plan NAME`")
        if "--plan" in argv:
            i = argv.index("--plan")
            need(i + 1 < len(argv) and not argv[i + 1].startswith("-"), f"{name}: --plan has no plan name")

    for p in problems:
        print(f"check-deploy: {p}")
    if problems:
        return 1
    print(f"check-deploy: {len(docs)} Kubernetes documents OK ({', '.join(sorted(by_kind))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

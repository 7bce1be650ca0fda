#!/usr/bin/env python3
"""What deploy/'s systemd units, compose file or Kubernetes manifests would start, as processes of this machine.

No container engine or cluster runs here, so the tests run the deploy files' own command lines
instead: this script reads them and prints, as JSON, every process they start with its arguments,
environment, working directory and health checks, each container path replaced by the local file
or directory it stands for:

- the image's files (the Containerfile's COPY lines) by the repository's;
- compose secrets and configs by the files under --sources (where `liaison keygen … --into` wrote
  the set's keys); the Kubernetes objects are what `kubectl kustomize` renders, with its
  generators reading curve/ under --sources, and each ConfigMap's and Secret's data becomes files;
- named volumes, emptyDirs and volume claims by new directories under --work;
- Kubernetes Secrets an operator makes (not generated) by --secret NAME=DIR (one file a key).

The image's ENV comes first, then the service's own environment; Kubernetes' $(VAR) references
are expanded and a pod's index is its ordinal. A compose service in a profile (the backup, the
console), a Kubernetes Deployment's pod (the console, where commands are run by kubectl exec) and
the systemd backup service are "jobs": started by hand, not with the set.

Usage:
  scripts/deploy-plan.py systemd --etc DIR --work DIR [--root REPO]
  scripts/deploy-plan.py compose --work DIR [--sources DIR] [--root REPO]
  scripts/deploy-plan.py kubernetes --work DIR [--sources DIR] [--secret NAME=DIR ...] [--root REPO]
"""
import argparse
import base64
import json
import pathlib
import re
import shlex
import shutil
import sys

import yaml

import kustomization  # scripts/kustomization.py


def image(root: pathlib.Path) -> tuple[dict, dict, str]:
    """The runtime stage of the Containerfile: its ENV, its files (container path → repository
    path) and its WORKDIR."""
    text = (root / "deploy/container/Containerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    stages = [i for i, l in enumerate(lines) if l.startswith("FROM ")]
    env, files, workdir = {}, {}, "/"
    for line in lines[stages[-1]:]:
        words = line.split()
        if not words:
            continue
        if words[0] == "ENV":
            for pair in words[1:]:
                name, value = pair.split("=", 1)
                env[name] = value
        elif words[0] == "COPY" and not any(w.startswith("--from=") for w in words):
            sources, dest = words[1:-1], words[-1]
            for source in sources:
                target = dest + pathlib.PurePosixPath(source).name if dest.endswith("/") else dest
                files[target] = str(root / source)
        elif words[0] == "WORKDIR":
            workdir = words[1]
    return env, files, workdir


def rewrite(value: str, mounts: dict) -> str:
    """`value` with every container path under a mount replaced by its local path (longest mount
    first, at path boundaries only: /etc/liaison/curve is not a prefix of /etc/liaison/curve-clients)."""
    if not mounts:
        return value
    keys = sorted(mounts, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys) + r"(?=/|$|[\"' ])")
    return pattern.sub(lambda m: mounts[m.group(0)], value)


def process(name, argv, env, workdir, probes, mounts):
    return {
        "name": name,
        "argv": [rewrite(a, mounts) for a in argv],
        "env": {k: rewrite(v, mounts) for k, v in env.items()},
        "cwd": rewrite(workdir, mounts),
        "probes": [[rewrite(a, mounts) for a in p] for p in probes],
    }


def compose_plan(root: pathlib.Path, sources: pathlib.Path, work: pathlib.Path) -> dict:
    compose = yaml.safe_load((root / "deploy/container/compose.yaml").read_text())
    image_env, image_files, workdir = image(root)
    secrets, configs = compose.get("secrets") or {}, compose.get("configs") or {}
    plan = {"processes": [], "jobs": []}
    for name, s in (compose.get("services") or {}).items():
        mounts = dict(image_files)
        for entry in s.get("secrets") or []:
            source, target = (entry, entry) if isinstance(entry, str) else (entry["source"], entry.get("target") or entry["source"])
            mounts[target if target.startswith("/") else f"/run/secrets/{target}"] = str(sources / secrets[source]["file"])
        for entry in s.get("configs") or []:
            source, target = (entry, f"/{entry}") if isinstance(entry, str) else (entry["source"], entry.get("target") or f"/{entry['source']}")
            mounts[target] = str(sources / configs[source]["file"])
        for volume in s.get("volumes") or []:
            source, target = volume.split(":")[:2]
            local = work / "volumes" / source
            local.mkdir(parents=True, exist_ok=True)
            mounts[target] = str(local)
        env = dict(image_env)
        service_env = s.get("environment") or {}
        env.update(dict(e.split("=", 1) for e in service_env) if isinstance(service_env, list) else {k: str(v) for k, v in service_env.items()})
        argv = list(s.get("entrypoint") or []) + list(s.get("command") or [])
        test = (s.get("healthcheck") or {}).get("test") or []
        probes = [test[1:]] if test[:1] == ["CMD"] else [["sh", "-c", test[1]]] if test[:1] == ["CMD-SHELL"] else []
        entry = process(name, argv, env, workdir, probes, mounts)
        if "entrypoint" in s:
            entry["entrypoint"] = len(s["entrypoint"])
        (plan["jobs"] if s.get("profiles") else plan["processes"]).append(entry)
    return plan


def expand(value: str, env: dict) -> str:
    """Kubernetes' $(VAR) references to the container's earlier variables."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def kustomize(root: pathlib.Path, sources: pathlib.Path, work: pathlib.Path) -> list:
    """deploy/kubernetes as `kubectl kustomize` renders it, its generators reading the curve/
    files under `sources` (liaison keygen's)."""
    def keys(tree: pathlib.Path) -> None:
        if (sources / "curve").exists():
            shutil.copytree(sources / "curve", tree / "curve")
    try:
        return kustomization.render(root, work, keys)
    except kustomization.RenderError as e:
        raise SystemExit(f"kubectl kustomize: {e}")


def kubernetes_plan(root: pathlib.Path, sources: pathlib.Path, work: pathlib.Path, operator_secrets: dict) -> dict:
    """The pods of the StatefulSets kustomize renders, each volume's files from the rendered
    ConfigMaps and Secrets (the generated ones under their hashed names), or from --secret for a
    Secret the operator makes."""
    documents = kustomize(root, sources, work)
    image_env, image_files, workdir = image(root)
    data = {}
    for d in documents:
        if d.get("kind") == "ConfigMap":
            data[("configMap", d["metadata"]["name"])] = {k: v.encode() for k, v in (d.get("data") or {}).items()}
        elif d.get("kind") == "Secret":
            data[("secret", d["metadata"]["name"])] = {k: base64.b64decode(v) for k, v in (d.get("data") or {}).items()}
    for name, local in operator_secrets.items():
        data[("secret", name)] = {p.name: p.read_bytes() for p in pathlib.Path(local).iterdir() if p.is_file()}

    def pod(pod_name: str, template: dict, claims: list, ordinal: int) -> dict:
        """One pod of `template`: its container's command line, environment and probes, each
        volume stood in for by a directory of this pod's."""
        spec = template["spec"]
        container = spec["containers"][0]
        volumes = {}
        for v in spec.get("volumes") or []:
            local = work / "pods" / pod_name / v["name"]
            local.mkdir(parents=True, exist_ok=True)
            if "configMap" in v or "secret" in v:
                ref = ("configMap", v["configMap"]["name"]) if "configMap" in v else ("secret", v["secret"]["secretName"])
                if ref not in data:
                    raise SystemExit(f"{pod_name}: volume {v['name']} needs {ref[0]} {ref[1]}, which nothing makes")
                items = (v.get("configMap") or v.get("secret")).get("items")
                wanted = {i["key"]: i["path"] for i in items} if items else {k: k for k in data[ref]}
                for key, path in wanted.items():
                    (local / path).write_bytes(data[ref][key])
                    (local / path).chmod((v.get("configMap") or v.get("secret")).get("defaultMode", 0o644))
            volumes[v["name"]] = str(local)
        for claim in claims:
            local = work / "pods" / pod_name / claim["metadata"]["name"]
            local.mkdir(parents=True, exist_ok=True)
            volumes[claim["metadata"]["name"]] = str(local)
        mounts = dict(image_files)
        for m in container.get("volumeMounts") or []:
            mounts[m["mountPath"]] = volumes[m["name"]]
        env = dict(image_env)
        for e in container.get("env") or []:
            if "value" in e:
                env[e["name"]] = expand(e["value"], env)
            elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.labels['apps.kubernetes.io/pod-index']":
                env[e["name"]] = str(ordinal)
            else:
                raise SystemExit(f"{pod_name}: cannot stand in for env {e['name']}")
        argv = [expand(a, env) for a in (container.get("command") or []) + (container.get("args") or [])]
        probes = [container[p]["exec"]["command"] for p in ("readinessProbe", "livenessProbe") if "exec" in (container.get(p) or {})]
        return process(pod_name, argv, env, container.get("workingDir") or workdir, probes, mounts)

    plan = {"processes": [], "jobs": []}
    for sts in (d for d in documents if d.get("kind") == "StatefulSet"):
        for ordinal in range(sts["spec"].get("replicas", 1)):
            plan["processes"].append(pod(f"{sts['metadata']['name']}-{ordinal}", sts["spec"]["template"],
                                         sts["spec"].get("volumeClaimTemplates") or [], ordinal))
    # A Deployment's pod (the operators' console) is a place to run commands in (kubectl exec):
    # a job whose own command is only there to keep it running (entrypoint 0: the test gives one).
    for deployment in (d for d in documents if d.get("kind") == "Deployment"):
        job = pod(deployment["metadata"]["name"], deployment["spec"]["template"], [], 0)
        job["entrypoint"] = 0
        plan["jobs"].append(job)
    return plan


def unit_file(path: pathlib.Path) -> dict:
    """A systemd unit file: section → key → every value given (in order)."""
    sections, current = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def systemd_plan(root: pathlib.Path, etc: pathlib.Path, work: pathlib.Path) -> dict:
    """liaison.target's units, each instance's ExecStart with %i its instance number, its
    Environment= and EnvironmentFile= (read when present, as systemd does: later ones override);
    the backup service as a job. /etc/liaison is --etc; /var/lib/liaison* are under --work; the
    executables in /usr/local/bin are this build's."""
    directory = root / "deploy/systemd"
    mounts = {"/etc/liaison": str(etc)}
    for state in ("liaison", "liaison-backups"):
        local = work / state
        local.mkdir(parents=True, exist_ok=True)
        mounts[f"/var/lib/{state}"] = str(local)

    def planned(unit_name: str, unit: dict, instance: str) -> dict:
        service = unit.get("Service", {})
        env = {}
        for line in service.get("Environment", []):
            for assignment in shlex.split(line):
                key, value = assignment.split("=", 1)
                env[key] = value
        for entry in service.get("EnvironmentFile", []):
            optional, path = entry.startswith("-"), pathlib.Path(rewrite(entry.lstrip("-"), mounts))
            if not path.exists():
                if optional:
                    continue
                raise SystemExit(f"{unit_name}: EnvironmentFile {entry} is missing")
            for raw in path.read_text().splitlines():
                line = raw.strip()
                if line and not line.startswith(("#", ";")) and "=" in line:
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip().strip('"')
        env = {k: rewrite(v, mounts) for k, v in env.items()}
        argv = shlex.split(service["ExecStart"][-1].replace("%i", instance))
        if argv[0].startswith("/usr/local/bin/"):
            argv[0] = argv[0].removeprefix("/usr/local/bin/")
        entry = process(unit_name, argv, env, str(work), [], mounts)
        reload = re.fullmatch(r"/bin/kill -(\w+) \$MAINPID", (service.get("ExecReload") or [""])[-1])
        if reload:
            entry["reload_signal"] = reload.group(1)
        entry["stop_signal"] = (service.get("KillSignal") or ["SIGTERM"])[-1]
        entry["stop_timeout_seconds"] = float((service.get("TimeoutStopSec") or ["90"])[-1])
        return entry

    plan = {"processes": [], "jobs": []}
    target = unit_file(directory / "liaison.target")
    for wanted in " ".join(target.get("Unit", {}).get("Wants", [])).split():
        template, instance = re.fullmatch(r"(.+)@(.+)\.service", wanted).groups()
        plan["processes"].append(planned(wanted, unit_file(directory / f"{template}@.service"), instance))
    plan["jobs"].append(planned("liaison-backup.service", unit_file(directory / "liaison-backup.service"), ""))
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("platform", choices=["compose", "kubernetes", "systemd"])
    parser.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parent.parent), help="repository root (default: this script's)")
    parser.add_argument("--sources", help="where the compose file's or kustomization's relative files are (default: beside them)")
    parser.add_argument("--work", required=True, help="a directory for the volumes and the pods' mounted files")
    parser.add_argument("--secret", action="append", default=[], help="NAME=DIR: an operator-made Kubernetes Secret, one file a key")
    parser.add_argument("--etc", help="systemd: the directory standing in for /etc/liaison")
    args = parser.parse_args()
    root, work = pathlib.Path(args.root).resolve(), pathlib.Path(args.work).resolve()
    if args.platform == "systemd":
        if not args.etc:
            parser.error("systemd needs --etc DIR (standing in for /etc/liaison)")
        plan = systemd_plan(root, pathlib.Path(args.etc).resolve(), work)
    elif args.platform == "compose":
        plan = compose_plan(root, pathlib.Path(args.sources or root / "deploy/container").resolve(), work)
    else:
        secrets = {name: str(pathlib.Path(path).resolve()) for name, path in (s.split("=", 1) for s in args.secret)}
        plan = kubernetes_plan(root, pathlib.Path(args.sources or root / "deploy/kubernetes").resolve(), work, secrets)
    json.dump(plan, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

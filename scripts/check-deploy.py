#!/usr/bin/env python3
"""Checks deploy/ without a container engine or a cluster.

- deploy/container/compose.yaml against the Compose specification (the schema check-jsonschema
  vendors), and deploy/kubernetes/*.yaml against the Kubernetes API schemas (kubernetes-validate,
  strict: an unknown or misspelt field is an error);
- all of them, the Containerfile and both container topologies against the package and each other:
  every service runs its own executable, binds on every interface, is health-checked with
  `liaison ping`, exposes the ports its topology names; the topology names each instance the way
  the others can resolve it; nothing load-balances over several intake instances (a retry must
  reach the instance that holds its submission_id); every service serves over CURVE with its own
  key pair, from the files `liaison keygen --topology … --into …` makes, and its health check
  connects with it.

- deploy/kubernetes rendered by `kubectl kustomize` (generators included) and validated again;
- deploy/systemd's units with systemd-analyze verify, and against the package and curve.env.

Usage: scripts/check-deploy.py [--root REPO]   (exit 0: every check passed; 1: problems, each named)
"""
import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources

import jsonschema
import kubernetes_validate
import yaml

import kustomization  # scripts/kustomization.py

SERVICES = ["intake", "handler", "scheduler", "reporting"]
KUBERNETES_VERSION = "1.31.0"


class Checks:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.problems: list[str] = []
        self.passed: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def ok(self, line: str) -> None:
        self.passed.append(line)


def endpoint(url: str) -> tuple[str, int]:
    match = re.fullmatch(r"tcp://(.+):(\d+)", url)
    if not match:
        raise ValueError(f"{url} is not a tcp://HOST:PORT endpoint")
    return match.group(1), int(match.group(2))


def topology_ports(where: str, topology: dict, checks: Checks, host_of) -> dict[str, tuple[int, int]]:
    """Each service's (requests, events) ports of instance 0; checks every instance's hosts."""
    ports = {}
    services = topology.get("services", {})
    for svc in SERVICES:
        instances = services.get(svc) or []
        if not instances:
            checks.fail(where, f"no instance of {svc}")
            continue
        for i, inst in enumerate(instances):
            try:
                (rh, rp), (eh, ep) = endpoint(inst["requests"]), endpoint(inst["events"])
            except (KeyError, ValueError) as e:
                checks.fail(where, f"services.{svc}[{i}]: {e}")
                continue
            want = host_of(svc, i)
            for field, host in (("requests", rh), ("events", eh)):
                if host != want:
                    checks.fail(where, f"services.{svc}[{i}].{field} names host {host}; the others resolve this instance as {want}")
            if inst.get("stream") != f"{svc}-{i + 1}":
                checks.fail(where, f"services.{svc}[{i}].stream is {inst.get('stream')!r}; instance {i} is {svc}-{i + 1}")
            if i == 0:
                ports[svc] = (rp, ep)
    return ports


def check_compose(checks: Checks) -> dict:
    where = "deploy/container/compose.yaml"
    path = checks.root / where
    compose = yaml.safe_load(path.read_text())
    schema = json.loads((resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    for e in errors:
        checks.fail(where, f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}")
    if not errors:
        checks.ok(f"{where}: valid against the Compose specification")

    topology = json.loads((checks.root / "deploy/container/topology.json").read_text())
    ports = topology_ports("deploy/container/topology.json", topology, checks, lambda svc, i: svc)
    services = compose.get("services", {})
    volumes, secrets = set((compose.get("volumes") or {}).keys()), set((compose.get("secrets") or {}).keys())
    for svc in SERVICES:
        s = services.get(svc)
        if s is None:
            checks.fail(where, f"no service {svc}")
            continue
        command = s.get("command") or []
        if not command or command[0] != f"liaison-{svc}":
            checks.fail(where, f"services.{svc}.command runs {command[:1]}, not liaison-{svc}")
        if "--bind-all-interfaces" not in command:
            checks.fail(where, f"services.{svc}.command lacks --bind-all-interfaces: the topology names it {svc}, which it cannot bind")
        hang = str((s.get("environment") or {}).get("LIAISON_EXIT_IF_HUNG_SECONDS", "0"))
        if not hang.replace(".", "", 1).isdigit() or float(hang) <= 0:
            checks.fail(where, f"services.{svc}.environment sets no LIAISON_EXIT_IF_HUNG_SECONDS: compose restarts a container that exits, not one that hangs")
        test = (s.get("healthcheck") or {}).get("test") or []
        if test[:4] != ["CMD", "liaison", "ping", svc]:
            checks.fail(where, f"services.{svc}.healthcheck is not liaison ping {svc}")
        exposed = {int(p) for p in s.get("expose") or []}
        if svc in ports and not set(ports[svc]) <= exposed:
            checks.fail(where, f"services.{svc}.expose {sorted(exposed)} lacks the topology's ports {list(ports[svc])}")
    for name, s in services.items():
        for v in s.get("volumes") or []:
            source = v.split(":", 1)[0] if isinstance(v, str) else v.get("source")
            if source and not source.startswith((".", "/")) and source not in volumes:
                checks.fail(where, f"services.{name}.volumes uses {source}, which is not declared")
        for secret in s.get("secrets") or []:
            secret = secret if isinstance(secret, str) else secret.get("source")
            if secret not in secrets:
                checks.fail(where, f"services.{name}.secrets uses {secret}, which is not declared")
        flags = s.get("command") or []
        for flag, secret in (("--contact-keys", "contact-keys"), ("--operator-secrets", "operator-secrets")):
            if flag in flags and f"/run/secrets/{secret}" in flags and secret not in (s.get("secrets") or []):
                checks.fail(where, f"services.{name} reads /run/secrets/{secret} without the secret")
    check_compose_curve(checks, where, compose, topology)
    if not any(p.startswith(where) for p in checks.problems):
        checks.ok(f"{where}: every service runs its executable, binds on every interface, exposes its topology's ports, is checked by liaison ping, exits when its request thread hangs")
        checks.ok(f"{where}: every service serves over CURVE with its own key pair and allow-list, as liaison keygen --into makes them, and is checked with its key")
    return ports


def flag(args: list, name: str):
    """The value after `name` in an argument list, or None."""
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def check_compose_curve(checks: Checks, where: str, compose: dict, topology: dict) -> None:
    """CURVE between the containers (DESIGN §5): each service's key pair and the allow-list, mounted
    from the files `liaison keygen --topology topology.json --into secrets/curve` writes."""
    declared_secrets, declared_configs = compose.get("secrets") or {}, compose.get("configs") or {}
    services = compose.get("services", {})
    keygen_dir = "./secrets/curve/"
    clients = set()
    for name, s in services.items():
        configs = {}
        for c in s.get("configs") or []:
            source, target = (c, f"/{c}") if isinstance(c, str) else (c.get("source"), c.get("target") or f"/{c.get('source')}")
            if source not in declared_configs:
                checks.fail(where, f"services.{name}.configs uses {source}, which is not declared")
                continue
            configs[target] = declared_configs[source].get("file")
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        topology_path = env.get("LIAISON_TOPOLOGY")
        if name in SERVICES + ["console", "backup"] and configs.get(topology_path) != keygen_dir + "topology.json":
            checks.fail(where, f"services.{name}: LIAISON_TOPOLOGY {topology_path} is not the topology keygen makes ({keygen_dir}topology.json, mounted as a config)")
        secrets = {x if isinstance(x, str) else x.get("source") for x in s.get("secrets") or []}
        key = env.get("LIAISON_CURVE_KEY_FILE")
        if key and key.startswith("/run/secrets/"):
            clients.add(key.removeprefix("/run/secrets/").removesuffix(".key"))
        if name not in SERVICES:
            continue
        instances = (topology.get("services", {}).get(name) or [{}])
        stream = instances[0].get("stream", f"{name}-1")
        command = s.get("command") or []
        key = flag(command, "--curve-key-file")
        if key != f"/run/secrets/{stream}.key" or f"{stream}.key" not in secrets:
            checks.fail(where, f"services.{name} must serve over CURVE with --curve-key-file /run/secrets/{stream}.key, its secret {stream}.key")
        allow = flag(command, "--curve-clients")
        if configs.get(allow) != keygen_dir + "curve-clients":
            checks.fail(where, f"services.{name}: --curve-clients {allow} is not the allow-list keygen makes ({keygen_dir}curve-clients, mounted as a config)")
        test = (s.get("healthcheck") or {}).get("test") or []
        if flag(test, "--curve-key-file") != f"/run/secrets/{stream}.key":
            checks.fail(where, f"services.{name}.healthcheck must connect with the instance's key (--curve-key-file /run/secrets/{stream}.key)")
    streams = {i.get("stream") for v in topology.get("services", {}).values() for i in v}
    for secret, spec in declared_secrets.items():
        if secret.endswith(".key"):
            owner = secret.removesuffix(".key")
            if (spec or {}).get("file") != f"{keygen_dir}{secret}":
                checks.fail(where, f"secrets.{secret} is not {keygen_dir}{secret}, where keygen writes it")
            if owner not in streams and owner not in clients:
                checks.fail(where, f"secrets.{secret} is neither an instance's key pair nor a client's")


def check_kubernetes(checks: Checks) -> None:
    directory = checks.root / "deploy/kubernetes"
    documents = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                documents.append((path.name, doc))
    kustomization = [d for f, d in documents if d.get("kind") == "Kustomization"]
    objects = [(f, d) for f, d in documents if d.get("kind") != "Kustomization"]
    count = 0
    for f, doc in objects:
        where = f"deploy/kubernetes/{f} {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            count += 1
        except kubernetes_validate.ValidationError as e:
            checks.fail(where, f"{'.'.join(str(p) for p in e.path) or '(top)'}: {e.message}")
    if count == len(objects):
        checks.ok(f"deploy/kubernetes: {count} objects valid against Kubernetes {KUBERNETES_VERSION} (strict)")
    files = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    kust = kustomization[0] if kustomization else {}
    if set(kust.get("resources") or []) != files:
        checks.fail("deploy/kubernetes/kustomization.yaml", f"resources {sorted(kust.get('resources') or [])} are not the files {sorted(files)}")

    by_kind = {}
    for f, d in objects:
        by_kind.setdefault(d.get("kind"), {})[d["metadata"]["name"]] = d
    topology = json.loads((directory / "topology.json").read_text())
    ports = topology_ports("deploy/kubernetes/topology.json", topology, checks, lambda svc, i: f"liaison-{svc}-{i}.liaison-{svc}")
    # What kustomize generates from the files liaison keygen --topology topology.json --into curve makes.
    generated_maps = {g.get("name"): g.get("files") or [] for g in kust.get("configMapGenerator") or []}
    generated_secrets = {g.get("name"): g.get("files") or [] for g in kust.get("secretGenerator") or []}
    where = "deploy/kubernetes/kustomization.yaml"
    if generated_maps.get("liaison-topology") != ["topology.json=curve/topology.json"]:
        checks.fail(where, "configMapGenerator liaison-topology must hold topology.json=curve/topology.json (keygen's topology, with the public keys)")
    if generated_maps.get("liaison-curve-clients") != ["curve-clients=curve/curve-clients"]:
        checks.fail(where, "configMapGenerator liaison-curve-clients must hold curve-clients=curve/curve-clients (keygen's allow-list)")
    for svc in SERVICES:
        wanted = [f"curve/{i.get('stream')}.key" for i in topology.get("services", {}).get(svc) or []]
        if generated_secrets.get(f"liaison-{svc}-curve") != wanted:
            checks.fail(where, f"secretGenerator liaison-{svc}-curve holds {generated_secrets.get(f'liaison-{svc}-curve')}; the topology's instances of {svc} need {wanted}")
    config_maps = set(by_kind.get("ConfigMap", {})) | set(generated_maps)
    # Made by the operator (kustomization.yaml's step 2), not generated.
    secret_names = set(generated_secrets) | {"liaison-secrets"}
    services, sets = by_kind.get("Service", {}), by_kind.get("StatefulSet", {})
    for svc in SERVICES:
        where = f"deploy/kubernetes/{svc}.yaml"
        headless, sts = services.get(f"liaison-{svc}"), sets.get(f"liaison-{svc}")
        if headless is None or sts is None:
            checks.fail(where, f"needs Service and StatefulSet liaison-{svc}")
            continue
        if headless["spec"].get("clusterIP") != "None" or not headless["spec"].get("publishNotReadyAddresses"):
            checks.fail(where, f"Service liaison-{svc} must be headless and publish not-ready addresses (the topology names pods by it)")
        if sts["spec"].get("serviceName") != f"liaison-{svc}":
            checks.fail(where, f"StatefulSet liaison-{svc}.spec.serviceName is not liaison-{svc}")
        pod = sts["spec"]["template"]["spec"]
        container = pod["containers"][0]
        if container.get("command") != [f"liaison-{svc}"]:
            checks.fail(where, f"the container runs {container.get('command')}, not liaison-{svc}")
        args = container.get("args") or []
        if "--bind-all-interfaces" not in args:
            checks.fail(where, "args lack --bind-all-interfaces: the topology names the pod by its headless name")
        if "--instance" not in args or args[args.index("--instance") + 1:args.index("--instance") + 2] != ["$(POD_INDEX)"]:
            checks.fail(where, "args must give --instance $(POD_INDEX): pod K is instance K")
        env = {e["name"]: e for e in container.get("env") or []}
        if (env.get("POD_INDEX", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")) != "metadata.labels['apps.kubernetes.io/pod-index']":
            checks.fail(where, "POD_INDEX must come from the pod-index label")
        declared = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
        if svc in ports and (declared.get("requests"), declared.get("events")) != ports[svc]:
            checks.fail(where, f"container ports {declared} are not the topology's {ports[svc]}")
        service_ports = {p["name"]: p["port"] for p in headless["spec"].get("ports") or []}
        if svc in ports and (service_ports.get("requests"), service_ports.get("events")) != ports[svc]:
            checks.fail(where, f"Service ports {service_ports} are not the topology's {ports[svc]}")
        for probe in ("readinessProbe", "livenessProbe"):
            command = " ".join(((container.get(probe) or {}).get("exec") or {}).get("command") or [])
            if f"liaison ping {svc}" not in command:
                checks.fail(where, f"{probe} is not liaison ping {svc}")
        hang = str((env.get("LIAISON_EXIT_IF_HUNG_SECONDS") or {}).get("value", "0"))
        if not hang.replace(".", "", 1).isdigit() or float(hang) <= 0:
            checks.fail(where, "env sets no LIAISON_EXIT_IF_HUNG_SECONDS: the liveness probe reaches the request thread only, not a stuck consumer or timer")
        volumes = {v["name"]: v for v in pod.get("volumes") or []} | {t["metadata"]["name"]: t for t in sts["spec"].get("volumeClaimTemplates") or []}
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                checks.fail(where, f"volumeMount {mount['name']} has no volume")
        for v in pod.get("volumes") or []:
            if "configMap" in v and v["configMap"]["name"] not in config_maps:
                checks.fail(where, f"volume {v['name']} names ConfigMap {v['configMap']['name']}, which is not in deploy/kubernetes")
            if "secret" in v and v["secret"]["secretName"] not in secret_names:
                checks.fail(where, f"volume {v['name']} names Secret {v['secret']['secretName']}, which nothing makes")
        # CURVE between the pods: the key pairs of this service's instances, the allow-list and the
        # topology with the public keys, each from its generated object, and the probes with the key.
        mounted = {}
        for mount in container.get("volumeMounts") or []:
            v = volumes.get(mount["name"]) or {}
            source = ("configMap", v["configMap"]["name"]) if "configMap" in v else ("secret", v["secret"]["secretName"]) if "secret" in v else None
            mounted[mount["mountPath"]] = source
        def mounted_from(path):
            return mounted.get(str(pathlib.PurePosixPath(path).parent)) if path else None
        key_dir = flag(args, "--curve-key-dir")
        if mounted.get(key_dir) != ("secret", f"liaison-{svc}-curve"):
            checks.fail(where, f"args must give --curve-key-dir, the mount of Secret liaison-{svc}-curve (gives {key_dir})")
        if mounted_from(flag(args, "--curve-clients")) != ("configMap", "liaison-curve-clients"):
            checks.fail(where, "args must give --curve-clients from the mount of ConfigMap liaison-curve-clients")
        if mounted_from((env.get("LIAISON_TOPOLOGY") or {}).get("value")) != ("configMap", "liaison-topology"):
            checks.fail(where, "LIAISON_TOPOLOGY must be topology.json in the mount of ConfigMap liaison-topology")
        for probe in ("readinessProbe", "livenessProbe"):
            command = " ".join(((container.get(probe) or {}).get("exec") or {}).get("command") or [])
            if f'--curve-key-file "{key_dir}/{svc}-$((POD_INDEX + 1)).key"' not in command:
                checks.fail(where, f"{probe} must connect with the pod's own key ({key_dir}/{svc}-$((POD_INDEX + 1)).key)")
    # The operators' console: an operator's key (keygen's --client operator:console), mounted from
    # its generated Secret, named by LIAISON_CURVE_KEY_FILE.
    console = by_kind.get("Deployment", {}).get("liaison-console")
    where = "deploy/kubernetes/console.yaml"
    if console is None:
        checks.fail(where, "no Deployment liaison-console: operators have nowhere in the set's network to run liaison from")
    else:
        if generated_secrets.get("liaison-console-curve") != ["curve/console.key"]:
            checks.fail("deploy/kubernetes/kustomization.yaml", "secretGenerator liaison-console-curve must hold curve/console.key (keygen --client operator:console)")
        if "--client operator:console" not in (directory / "kustomization.yaml").read_text():
            checks.fail("deploy/kubernetes/kustomization.yaml", "its instructions must make the console's key (liaison keygen ... --client operator:console)")
        pod = console["spec"]["template"]["spec"]
        container = pod["containers"][0]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        key = next((e.get("value") for e in container.get("env") or [] if e["name"] == "LIAISON_CURVE_KEY_FILE"), None)
        mount = next((m for m in container.get("volumeMounts") or [] if key and key.startswith(m["mountPath"] + "/")), None)
        if key is None or mount is None or (volumes.get(mount["name"], {}).get("secret") or {}).get("secretName") != "liaison-console-curve" \
                or key != mount["mountPath"] + "/console.key":
            checks.fail(where, f"LIAISON_CURVE_KEY_FILE ({key}) must be console.key in the mount of Secret liaison-console-curve")
    # A Service spreading connections over several intake pods would send a retry to an instance
    # that does not know its submission_id: a second case.
    for name, s in services.items():
        selector = s["spec"].get("selector") or {}
        if selector.get("app.kubernetes.io/component") == "intake" and s["spec"].get("clusterIP") != "None" \
                and "statefulset.kubernetes.io/pod-name" not in selector:
            checks.fail(f"deploy/kubernetes Service/{name}", "balances over every intake pod: a retry may reach an instance without its submission_id and open a second case")
    if not any(p.startswith("deploy/kubernetes") for p in checks.problems):
        checks.ok("deploy/kubernetes: the topology names each pod by its headless name; pods run --instance from their index, bind on every interface, expose the topology's ports, are probed by liaison ping")
        checks.ok("deploy/kubernetes: every pod serves over CURVE with its instance's key pair and the allow-list, generated from liaison keygen's files, and is probed with its key")


def check_kustomize(checks: Checks) -> None:
    """deploy/kubernetes as `kubectl kustomize` renders it (what `kubectl apply -k` sends), with
    placeholders for the files liaison keygen writes into curve/: every rendered object valid
    (strict), every ConfigMap and Secret a pod mounts rendered (the generated ones under their
    hashed names) or made by the operator (liaison-secrets)."""
    where = "deploy/kubernetes (kubectl kustomize)"

    def placeholders(tree: pathlib.Path) -> None:
        (tree / "curve").mkdir()
        kust = yaml.safe_load((tree / "kustomization.yaml").read_text())
        for generator in (kust.get("configMapGenerator") or []) + (kust.get("secretGenerator") or []):
            for entry in generator.get("files") or []:
                path = entry.split("=", 1)[-1]
                if path.startswith("curve/"):
                    (tree / path).write_text((tree / "topology.json").read_text() if path == "curve/topology.json" else "# placeholder\n")

    with tempfile.TemporaryDirectory() as scratch:
        try:
            documents = kustomization.render(checks.root, pathlib.Path(scratch), placeholders)
        except kustomization.RenderError as e:
            checks.fail(where, str(e))
            return
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            checks.fail(where, f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}: {'.'.join(str(p) for p in e.path) or '(top)'}: {e.message}")
    made = {(d.get("kind"), d["metadata"]["name"]) for d in documents} | {("Secret", "liaison-secrets")}
    for workload in (d for d in documents if d.get("kind") in ("StatefulSet", "Deployment")):
        for v in workload["spec"]["template"]["spec"].get("volumes") or []:
            ref = ("ConfigMap", v["configMap"]["name"]) if "configMap" in v else ("Secret", v["secret"]["secretName"]) if "secret" in v else None
            if ref and ref not in made:
                checks.fail(where, f"{workload['kind']}/{workload['metadata']['name']} mounts {ref[0]} {ref[1]}, which the kustomization does not make")
    for doc in documents:
        if doc.get("kind") != "Namespace" and (doc.get("metadata") or {}).get("namespace") != "liaison":
            checks.fail(where, f"{doc.get('kind')}/{doc['metadata']['name']} is not in namespace liaison")
    if not any(p.startswith(where) for p in checks.problems):
        generated = sorted(name for kind, name in made if kind in ("ConfigMap", "Secret") and name != "liaison-secrets")
        checks.ok(f"{where}: {len(documents)} objects rendered, valid against Kubernetes {KUBERNETES_VERSION} (strict); the pods mount {len(generated)} generated ConfigMaps and Secrets by their hashed names, and liaison-secrets")


def package_products(root: pathlib.Path) -> set:
    """The executables Package.swift makes."""
    return set(re.findall(r'\.executable\(name: "([^"]+)"', (root / "Package.swift").read_text()))


def check_containerfile(checks: Checks, compose_ports: dict) -> None:
    where = "deploy/container/Containerfile"
    text = (checks.root / where).read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    products = package_products(checks.root)
    built = set()
    for line in lines:
        match = re.search(r"for product in ([^;]+);", line)
        if match:
            built |= set(match.group(1).split())
    needed = {"liaison"} | {f"liaison-{s}" for s in SERVICES}
    if not needed <= built:
        checks.fail(where, f"builds {sorted(built)}; the image needs {sorted(needed)}")
    for p in built - products:
        checks.fail(where, f"builds {p}, which Package.swift does not have")
    stages = [i for i, l in enumerate(lines) if l.startswith("FROM ")]
    final = lines[stages[-1]:] if stages else []
    for line in lines:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if not (checks.root / source).exists():
                    checks.fail(where, f"COPY {source}: not in the repository")
    final_text = "\n".join(final)
    for package in ("libzmq5", "libsqlite3-0"):
        if package not in final_text:
            checks.fail(where, f"the runtime stage does not install {package}")
    user = [l.split()[1] for l in final if l.startswith("USER ")]
    if not user or user[-1].split(":")[0] in ("0", "root"):
        checks.fail(where, "the runtime stage must run as a user other than root")
    exposed = {int(p) for l in final if l.startswith("EXPOSE ") for p in l.split()[1:]}
    wanted = {p for pair in compose_ports.values() for p in pair}
    if not wanted <= exposed:
        checks.fail(where, f"EXPOSE {sorted(exposed)} lacks {sorted(wanted - exposed)}")
    if not any(p.startswith(where) for p in checks.problems):
        checks.ok(f"{where}: builds every executable the set runs (Package.swift products), runs them as uid 10001 with libzmq and SQLite")


def check_systemd(checks: Checks) -> None:
    """The units as systemd reads them (`systemd-analyze verify`, in a scratch root holding the
    executables they name, every line it prints a problem), and against the package: each
    template runs its service's executable, liaison.target wants instance 0 of each, every unit
    reads the host's optional settings (/etc/liaison/liaison.env), and curve.env names what the
    services read to serve over CURVE."""
    where = "deploy/systemd"
    directory = checks.root / where
    units = sorted(p.name for p in directory.glob("*.service")) + sorted(p.name for p in directory.glob("*.t*"))
    products = package_products(checks.root)
    for svc in SERVICES:
        text = (directory / f"liaison-{svc}@.service").read_text() if (directory / f"liaison-{svc}@.service").exists() else ""
        if not re.search(rf"^ExecStart=/usr/local/bin/liaison-{svc} --instance %i\b", text, re.M):
            checks.fail(f"{where}/liaison-{svc}@.service", f"ExecStart must run /usr/local/bin/liaison-{svc} --instance %i")
    for unit in units:
        text = (directory / unit).read_text()
        if unit.endswith(".service") and "EnvironmentFile=-/etc/liaison/liaison.env" not in text:
            checks.fail(f"{where}/{unit}", "does not read the host's settings (EnvironmentFile=-/etc/liaison/liaison.env), where curve.env goes")
        for exe in re.findall(r"^Exec\w+=/usr/local/bin/(\S+)", text, re.M):
            if exe not in products:
                checks.fail(f"{where}/{unit}", f"runs {exe}, which Package.swift does not make")
    wants = " ".join(re.findall(r"^Wants=(.*)$", (directory / "liaison.target").read_text(), re.M)).split()
    if sorted(wants) != sorted(f"liaison-{svc}@0.service" for svc in SERVICES):
        checks.fail(f"{where}/liaison.target", f"wants {wants}, not instance 0 of every service")
    env = dict(line.split("=", 1) for line in (directory / "curve.env").read_text().splitlines() if line and not line.startswith("#"))
    wanted = {"LIAISON_TOPOLOGY": "/etc/liaison/keys/topology.json", "LIAISON_CURVE_KEY_DIR": "/etc/liaison/keys",
              "LIAISON_CURVE_CLIENTS": "/etc/liaison/keys/curve-clients"}
    if env != wanted:
        checks.fail(f"{where}/curve.env", f"sets {env}, not {wanted}")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        checks.fail(where, "systemd-analyze is not installed (apt-get install systemd): the units were not verified")
        return
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        (root / "usr/local/bin").mkdir(parents=True)
        for product in products:
            stub = root / "usr/local/bin" / product
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
        shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True)
        (root / "bin").mkdir()
        shutil.copy("/bin/kill", root / "bin/kill")
        shutil.copytree(directory, root / "etc/systemd/system", ignore=shutil.ignore_patterns("*.env"))
        names = [u.replace("@.service", "@0.service") for u in units]
        result = subprocess.run([analyze, "verify", f"--root={root}"] + [f"/etc/systemd/system/{n}" for n in names],
                                capture_output=True, text=True)
        said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        for line in said:
            checks.fail(where, f"systemd-analyze verify: {line.replace(str(root), '')}")
        if result.returncode != 0 and not said:
            checks.fail(where, f"systemd-analyze verify exited {result.returncode}")
    if not any(p.startswith(where) for p in checks.problems):
        checks.ok(f"{where}: {len(units)} units verified by systemd-analyze; each template runs its service, liaison.target wants them all, every unit reads /etc/liaison/liaison.env (curve.env turns CURVE on)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parent.parent), help="repository root (default: this script's)")
    root = pathlib.Path(parser.parse_args().root)
    checks = Checks(root)
    ports = check_compose(checks)
    check_kubernetes(checks)
    check_kustomize(checks)
    check_containerfile(checks, ports)
    check_systemd(checks)
    for line in checks.passed:
        print(f"ok: {line}")
    for line in checks.problems:
        print(f"problem: {line}")
    print(f"deploy: {len(checks.problems)} problem(s)" if checks.problems else "deploy: every check passed")
    return 1 if checks.problems else 0


if __name__ == "__main__":
    sys.exit(main())

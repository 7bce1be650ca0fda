"""deploy/kubernetes as `kubectl kustomize` renders it (what `kubectl apply -k` sends), for
scripts/check-deploy.py and scripts/deploy-plan.py: the manifests copied into a scratch
directory, curve/ (what its generators read, liaison keygen's files) put there by the caller,
and the rendered objects returned."""
import pathlib
import re
import shutil
import subprocess

import yaml


class RenderError(Exception):
    """kubectl is missing, or it refused the kustomization (its message)."""


def render(root: pathlib.Path, scratch: pathlib.Path, curve) -> list:
    """The objects of root/deploy/kubernetes, rendered in `scratch` after `curve(tree)` has put
    the generators' curve/ files into the copy `tree`."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RenderError("kubectl is not installed (apt-get install kubernetes-client): the kustomization was not rendered")
    tree = scratch / "kubernetes"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(root / "deploy/kubernetes", tree, ignore=shutil.ignore_patterns("curve"))
    curve(tree)
    rendered = subprocess.run([kubectl, "kustomize", str(tree)], capture_output=True, text=True)
    if rendered.returncode != 0:
        said = rendered.stderr.strip().replace(str(tree), "deploy/kubernetes")
        quoted = re.search(r'err="(.*)"$', said)   # kubectl's log prefix, when it gives one
        raise RenderError(quoted.group(1) if quoted else said)
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]

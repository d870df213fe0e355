"""Renders a kustomization to a list of Kubernetes objects.

With kubectl on PATH this is `kubectl kustomize` itself. Without it (a bare CI machine) a small
renderer covers exactly the kustomize features k8s/ uses (resources, components, a configMapGenerator
without hash suffix, JSON 6902 patches) and refuses any other, so that it cannot silently differ.
tests/shell/test_k8s_manifests.sh renders with both when kubectl is present and compares them.
"""

import copy
import json
import os
import shutil
import subprocess

import yaml

_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "components", "generatorOptions",
                       "configMapGenerator", "patches"}


class RenderError(Exception):
    pass


def have_kubectl():
    return shutil.which("kubectl") is not None


def render_kubectl(root):
    out = subprocess.run(["kubectl", "kustomize", root], check=True, capture_output=True,
                         text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def render(root):
    """kubectl kustomize when present (unless TOLLGATE_K8S_RENDER=python), else the fallback."""
    if have_kubectl() and os.environ.get("TOLLGATE_K8S_RENDER") != "python":
        return render_kubectl(root)
    return render_python(root)


def _load_docs(path):
    with open(path, encoding="utf-8") as f:
        # A JSON round trip undoes YAML anchors: a patch to one alias must not change the other.
        return [json.loads(json.dumps(d)) for d in yaml.safe_load_all(f) if d]


def _kustomization(root):
    path = os.path.join(root, "kustomization.yaml")
    with open(path, encoding="utf-8") as f:
        k = yaml.safe_load(f) or {}
    unknown = set(k) - _KUSTOMIZATION_KEYS
    if unknown:
        raise RenderError(f"{path}: the fallback renderer does not support {sorted(unknown)}")
    return k


def render_python(root, base_docs=None):
    k = _kustomization(root)
    is_component = k.get("kind") == "Component"
    docs = list(base_docs or []) if is_component else []
    for res in k.get("resources", []):
        path = os.path.normpath(os.path.join(root, res))
        docs += render_python(path) if os.path.isdir(path) else _load_docs(path)
    for comp in k.get("components", []):
        docs = render_python(os.path.normpath(os.path.join(root, comp)), docs)
    generators = k.get("configMapGenerator", [])
    if generators and not k.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise RenderError(f"{root}: the fallback renderer needs disableNameSuffixHash: true")
    for gen in generators:
        docs.append(_config_map(root, gen))
    for patch in k.get("patches", []):
        _apply_patch(root, patch, docs)
    return docs


def _config_map(root, gen):
    unknown = set(gen) - {"name", "files"}
    if unknown:
        raise RenderError(f"{root}: configMapGenerator {sorted(unknown)} not supported")
    data = {}
    for entry in gen.get("files", []):
        key, _, path = entry.partition("=") if "=" in entry else (None, "", entry)
        full = os.path.normpath(os.path.join(root, path))
        if not full.startswith(os.path.normpath(root) + os.sep):
            raise RenderError(f"{root}: {path} is outside the kustomization root")
        with open(full, encoding="utf-8") as f:
            data[key or os.path.basename(path)] = f.read()
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}


def _apply_patch(root, patch, docs):
    unknown = set(patch) - {"path", "target"}
    if unknown or "target" not in patch:
        raise RenderError(f"{root}: only JSON 6902 patches with a target are supported")
    ops = _load_docs(os.path.join(root, patch["path"]))
    ops = ops[0] if len(ops) == 1 and isinstance(ops[0], list) else ops
    target = patch["target"]
    hits = [d for d in docs if _matches(d, target)]
    if not hits:
        raise RenderError(f"{root}: patch {patch['path']} matches no object")
    for doc in hits:
        for op in ops:
            json_patch(doc, op)


def _matches(doc, target):
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    checks = {"kind": doc.get("kind"), "name": doc.get("metadata", {}).get("name"),
              "group": group, "version": version}
    return all(checks.get(k) == v for k, v in target.items())


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise RenderError(f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts):
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node, parts[-1]


def _get(doc, path):
    node = doc
    for p in _pointer(path):
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node


def _remove(doc, path):
    parent, last = _parent(doc, _pointer(path))
    if isinstance(parent, list):
        return parent.pop(int(last))
    return parent.pop(last)


def _add(doc, path, value):
    parent, last = _parent(doc, _pointer(path))
    if isinstance(parent, list):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        parent[last] = value


def json_patch(doc, op):
    """One RFC 6902 operation, in place. KeyError/IndexError when the path is missing."""
    kind = op["op"]
    if kind == "add":
        _add(doc, op["path"], copy.deepcopy(op["value"]))
    elif kind == "remove":
        _remove(doc, op["path"])
    elif kind == "replace":
        _remove(doc, op["path"])
        _add(doc, op["path"], copy.deepcopy(op["value"]))
    elif kind == "move":
        _add(doc, op["path"], _remove(doc, op["from"]))
    elif kind == "copy":
        _add(doc, op["path"], copy.deepcopy(_get(doc, op["from"])))
    elif kind == "test":
        if _get(doc, op["path"]) != op["value"]:
            raise RenderError(f"test failed at {op['path']}")
    else:
        raise RenderError(f"unknown patch op {kind!r}")


def by_key(docs):
    """Objects keyed by (kind, name), the order kustomize happens to print them in aside."""
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}

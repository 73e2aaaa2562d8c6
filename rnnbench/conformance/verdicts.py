"""Records of `rnnbench check`, by code version: what lets `rnnbench bench` find that an outside
implementation passed at the code it is about to time (docs/DESIGN.md §9).

A verdict is kept in RESULTS_DIR/checks/NAME/KEY.json, KEY a hash of the fingerprint: the
implementation's name, its distribution and version, a hash of its package's files, and rnnbench's
git commit (with its uncommitted changes) or, outside a git checkout, its version. Change any of them
and the old verdict no longer applies."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

from rnnbench import jsonio, machine

CHECKS_FOLDER = "checks"


def package_files_sha256(module: str) -> str | None:
    """sha256 over the .py files of the top package of `module` (names and bytes), found without importing
    it; None when it cannot be found."""
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None:
        return None
    if spec.submodule_search_locations:
        roots = [Path(p) for p in spec.submodule_search_locations]
        files = sorted((root, f) for root in roots for f in root.rglob("*.py"))
    elif spec.origin:
        files = [(Path(spec.origin).parent, Path(spec.origin))]
    else:
        return None
    digest = hashlib.sha256()
    for root, f in files:
        digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(impl_name: str) -> dict[str, object]:
    """What a verdict holds for: the code of rnnbench and, for a plugin, of its package."""
    import impls
    import rnnbench

    git = machine.git()
    out: dict[str, object] = {
        "impl": impl_name,
        "rnnbench": git.get("commit") or rnnbench.__version__,
        "rnnbench_changes": git.get("diff_sha256"),
    }
    plugin = impls.registry.plugins().get(impl_name)
    if plugin is not None:
        out |= {
            "distribution": plugin.distribution,
            "version": plugin.version,
            "target": plugin.target,
            "files_sha256": package_files_sha256(plugin.module),
        }
    return out


def key(fp: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]


def path(results_dir: str | os.PathLike, impl_name: str, fp: dict[str, object]) -> Path:
    return Path(results_dir) / CHECKS_FOLDER / impl_name / f"{key(fp)}.json"


def save(results_dir: str | os.PathLike, verdict: dict) -> Path:
    """Write a verdict (check.verdict's dict, with its fingerprint) where `find` looks for it."""
    return jsonio.write_json(path(results_dir, verdict["impl"], verdict["fingerprint"]), verdict)


def find(results_dir: str | os.PathLike, impl_name: str, fp: dict[str, object] | None = None) -> dict | None:
    """The verdict recorded for impl_name at this code version, or None (none, or unreadable)."""
    fp = fingerprint(impl_name) if fp is None else fp
    try:
        found = jsonio.read_json(path(results_dir, impl_name, fp))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("fingerprint") == fp else None

"""Implementations from other packages, found by entry point (docs/DESIGN.md §9).

A distribution registers `NAME = "module:Class"` under the entry point group "rnnbench.impls"; Class
subclasses impls.RNNImpl and its `name` is NAME. Discovery reads installed metadata only: a plugin's
module is imported when its implementation is loaded, and not before. A built-in name wins over a
plugin of the same name; a plugin that cannot be used is reported in one line naming it, and never
hides the others.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from dataclasses import dataclass

from impls.core import FrameworkUnavailableError

GROUP = "rnnbench.impls"

log = logging.getLogger("impls")


class PluginError(FrameworkUnavailableError):
    """An outside implementation cannot be used here (its module does not import, its entry point names
    no RNNImpl): the message is one line naming the plugin and its distribution."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: name -> "module:Class", from a distribution at a version.

    problem: why it cannot be used, known without importing it (a malformed entry point, a name taken
    by a built-in or by another plugin, a module that is not installed); None when nothing is known
    against it."""

    name: str
    target: str
    distribution: str
    version: str
    problem: str | None = None

    @property
    def module(self) -> str:
        return self.target.partition(":")[0].strip()

    def describe(self) -> str:
        """ "numba-loops (rnnbench-numba 0.1.0, rnnbench_numba.impl:NumbaLoops)"."""
        return f"{self.name} ({self.distribution} {self.version}, {self.target})"


def entry_points() -> list[importlib.metadata.EntryPoint]:
    """The group's entry points as installed (the tests replace this function)."""
    return list(importlib.metadata.entry_points(group=GROUP))


def _plugin(ep: importlib.metadata.EntryPoint) -> Plugin:
    dist = getattr(ep, "dist", None)
    distribution = dist.metadata["Name"] if dist is not None else "unknown distribution"
    version = dist.version if dist is not None else "?"
    plugin = Plugin(ep.name, ep.value, distribution, version)
    module, sep, attr = ep.value.partition(":")
    if not (sep and module.strip() and attr.strip()):
        return _broken(plugin, f"entry point {ep.value!r} is not of the form 'module:Class'")
    try:
        found = importlib.util.find_spec(plugin.module.split(".")[0])  # the top package only: nothing runs
    except (ImportError, ValueError) as e:
        found, why = None, str(e)
    else:
        why = "is not installed"
    if found is None:
        return _broken(plugin, f"its module {plugin.module} {why}")
    return plugin


def _broken(plugin: Plugin, why: str) -> Plugin:
    return Plugin(plugin.name, plugin.target, plugin.distribution, plugin.version, f"plugin {plugin.describe()}: {why}")


@functools.cache
def discover(builtins: frozenset[str]) -> dict[str, Plugin]:
    """Every plugin of the group by name, broken ones included (with their problem), logged once each.
    A name already built in, or registered by an earlier distribution, is left out, saying so."""
    found: dict[str, Plugin] = {}
    for ep in entry_points():
        plugin = _plugin(ep)
        if plugin.name in builtins:
            log.warning("plugin %s ignored: %s is a built-in implementation", plugin.describe(), plugin.name)
            continue
        if plugin.name in found:
            log.warning("plugin %s ignored: %s is taken by %s", plugin.describe(), plugin.name, found[plugin.name])
            continue
        if plugin.problem:
            log.warning("%s", plugin.problem)
        found[plugin.name] = plugin
    return found


def refresh() -> None:
    """Read the entry points again on the next look-up (after an install, or in tests)."""
    discover.cache_clear()


def rnn_impl() -> type | None:
    """impls.RNNImpl if impls.base has been imported, else None. A plugin's class can only subclass it once
    its module has imported it, so nothing here needs to import impls.base (which imports the registry)."""
    base = sys.modules.get("impls.base")
    return getattr(base, "RNNImpl", None)


def load_class(plugin: Plugin) -> type:
    """Import the plugin's class; PluginError (one line) when it cannot be used."""
    if plugin.problem:
        raise PluginError(plugin.problem)
    module_name, _, attr = plugin.target.partition(":")
    try:
        obj = importlib.import_module(module_name.strip())
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
    except Exception as e:  # whatever a foreign module raises on import is that plugin's problem alone
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise PluginError(f"plugin {plugin.describe()}: cannot import: {type(e).__name__}: {first}") from e
    base = rnn_impl()
    if not (isinstance(obj, type) and base is not None and issubclass(obj, base)):
        raise PluginError(f"plugin {plugin.describe()}: {plugin.target} is not a subclass of impls.RNNImpl")
    if getattr(obj, "name", None) != plugin.name:
        raise PluginError(
            f"plugin {plugin.describe()}: its class's name is {getattr(obj, 'name', None)!r}, not {plugin.name!r}"
        )
    return obj

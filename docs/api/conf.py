"""Sphinx configuration of the API reference: ``make docs`` (HTML in out/api).

Built with warnings as errors and nitpicky cross-references, so a docstring that
names a class or function that does not exist fails the build (``make test`` runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # fl and benchmarks run from the checkout

project = "secagg"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}  # offline: no inventories
nitpicky = True
# Names outside secagg (numpy, torch, Flower, cryptography, the standard library) have
# no inventory offline; every name inside secagg and fl must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|npt|torch|nn|flwr|cryptography|gmpy2|phe|scipy|collections|typing"
               r"|enum|dataclasses|abc|pathlib|concurrent|logging|argparse|datetime|struct"
               r"|fractions|hashlib|re)\b.*"),
    # Sphinx splits a dataclass field's "dict[str, float] = <factory>" signature at the comma
    (r"py:class", r"dict\[str"),
    # type variables of generic helpers
    (r"py:.*", r"secagg\.(protocol\.machine\.S|flower\.records\.R|timing\._T)"),
    (r"py:.*", r"(NDArray|ArrayLike|Any|Callable|Mapping|Sequence|Iterable|Iterator"
               r"|Collection|Self|Path|Enum|IntEnum|ValueError|Exception|bytes|int|float"
               r"|str|bool|None|dict|list|tuple|type|object|Message|Context|Grid"
               r"|RecordDict|ArrayRecord|ConfigRecord|MetricRecord|Array|Module|Tensor"
               r"|ClientAppCallable|Strategy|FedAvg|Result|DataLoader|T|R|V)$"),
]
# The docstrings write "name: what it is" in their Parameters sections (no separate
# type: the signature has it); render that text as text, not as a type to resolve.
napoleon_use_param = False
napoleon_preprocess_types = False


def _resolve_short_names(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a reference written the way the code imports the name (``DecodeError``,
    ``secagg.masking.neighbours_for_dropout``) to the one documented object it can mean.

    Objects are documented where they are defined; docstrings name them as their module
    imports them. Only an unambiguous match resolves: a name that matches nothing, or
    several objects, stays a broken reference and fails the build.
    """
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    prefix, _, last = target.rpartition(".")
    objects = env.get_domain("py").objects
    matches = {
        name for name in objects
        if name.rpartition(".")[2] == last
        and (not prefix or name.startswith(prefix + ".") or name.endswith("." + target))
    }
    if not prefix:  # a bare name: prefer the current module's own, then the package's
        here = node.get("py:module") or ""
        local = {m for m in matches if m.startswith(here + ".")}
        matches = local or matches
    if len(matches) != 1:
        return None
    (name,) = matches
    entry = objects[name]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                        name)


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_short_names)

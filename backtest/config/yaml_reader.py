"""Safe YAML -> plain Python values plus the line of every key and value.

The text is *composed* into a node tree with `yaml.SafeLoader` (which never builds objects) and walked
here: only the standard data tags (str, int, float, bool, null, timestamp, map, seq, merge) are accepted, so a
``!!python/object`` tag is reported, never executed. The walk also rejects duplicate keys (which PyYAML
silently overwrites), keeps anchors/aliases and ``<<`` merge keys working, and bounds the work an alias bomb
can cause.

Two deliberate departures from YAML 1.1, both toward YAML 1.2: only ``true``/``false`` are booleans (so the
tickers ``ON`` and ``NO`` stay text), and plain ``1e6`` is a number (PyYAML reads it as text).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from backtest.config.check import BAD, Ctx

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_SCI_RE = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)[eE][-+]?\d+$")
MAX_NODES = 100_000
MAX_DEPTH = 50
MAX_CHARS = 2_000_000


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


class _TooBig(Exception):
    pass


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, ctx: Ctx):
        self.loader = loader
        self.ctx = ctx
        self.count = 0
        self.stack: set[int] = set()

    def walk(self, node: Node, path: tuple, key_line: int | None, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(f"the document expands to more than {MAX_NODES} values (aliases?); a config is small")
        line = node.start_mark.line + 1
        self.ctx.lines[path] = (key_line, line)
        if depth > MAX_DEPTH:
            self.ctx.error(path[:1], f"is nested more than {MAX_DEPTH} levels deep; a config never needs that",
                           line=line)
            return BAD
        if not self._tag_ok(node, path):
            return BAD
        if id(node) in self.stack:
            self.ctx.error(path, "is a recursive alias (an anchor that contains itself); remove the alias")
            return BAD
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self.stack.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.walk(child, (*path, i), child.start_mark.line + 1, depth + 1)
                        for i, child in enumerate(node.value)]
            return self._mapping(node, path, depth)
        finally:
            self.stack.discard(id(node))

    def _tag_ok(self, node: Node, path: tuple) -> bool:
        tag = node.tag or ""
        if isinstance(node, ScalarNode):
            ok = tag in _SCALAR_TAGS
        elif isinstance(node, SequenceNode):
            ok = tag == _TAG + "seq"
        else:
            ok = tag == _TAG + "map"
        if ok:
            return True
        if tag.startswith(_TAG + "python/") or tag.startswith("!python"):
            self.ctx.error(path, f"uses the YAML tag {_short_tag(tag)!r}, which would create a Python object: "
                                 "configs are read as plain data only (safe YAML); remove the tag")
        else:
            self.ctx.error(path, f"uses the YAML tag {_short_tag(tag)!r}, which a config does not support; "
                                 "remove the tag and write a plain value")
        return False

    def _scalar(self, node: ScalarNode, path: tuple) -> Any:
        if node.tag == _TAG + "bool":
            low = node.value.lower()
            return {"true": True, "false": False}.get(low, node.value)
        if node.tag == _TAG + "str" and node.style is None and _SCI_RE.match(node.value):
            return float(node.value.replace("_", ""))
        try:
            return self.loader.yaml_constructors[node.tag](self.loader, node)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            what = "date" if node.tag.endswith("timestamp") else "number" if node.tag[-3:] in ("int", "oat") else "value"
            detail = str(exc).splitlines()[0][:80]
            if "digits" in detail:
                detail = "far too many digits"
            self.ctx.error(path, f"is not a valid {what}: {node.value[:60]!r} ({detail})")
            return BAD

    def _pairs(self, node: MappingNode, path: tuple, depth: int) -> list[tuple[str, Node, int]]:
        """(key, value node, key line) of a mapping; merge keys (``<<``) expanded, own keys win."""
        own: list[tuple[str, Node, int]] = []
        merged: list[tuple[str, Node, int]] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _TAG + "merge":
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for src in sources:
                    self.count += len(getattr(src, "value", ())) + 1
                    if self.count > MAX_NODES:
                        raise _TooBig(f"the merge keys (<<) expand to more than {MAX_NODES} values")
                    if not isinstance(src, MappingNode) or src.tag != _TAG + "map":
                        self.ctx.error((*path, "<<"), "a merge key (<<) needs an alias to a mapping, "
                                                      "e.g. `<<: *defaults`", line=key_line)
                        continue
                    if id(src) in self.stack or depth > MAX_DEPTH:
                        self.ctx.error(path, "is a recursive merge (<<); remove the alias")
                        continue
                    self.stack.add(id(src))
                    try:
                        for k, v, ln in self._pairs(src, path, depth + 1):
                            if all(k != m[0] for m in merged):
                                merged.append((k, v, ln))
                    finally:
                        self.stack.discard(id(src))
                continue
            if not isinstance(key_node, ScalarNode):
                self.ctx.error((*path, "?"), "a mapping key must be plain text, not a list or mapping",
                               line=key_line)
                continue
            if not self._tag_ok(key_node, (*path, key_node.value)):
                continue
            own.append((key_node.value, value_node, key_line))
        own_keys = {k for k, _, _ in own}
        return [m for m in merged if m[0] not in own_keys] + own

    def _mapping(self, node: MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key, value_node, key_line in self._pairs(node, path, depth):
            if key in out or key in first_line:
                self.ctx.error((*path, key), f"duplicate key {key!r} (first given on line {first_line[key]}); "
                                             "remove one of them", line=key_line)
                continue
            first_line[key] = key_line
            out[key] = self.walk(value_node, (*path, key), key_line, depth + 1)
        return out


def load_yaml(text: str, ctx: Ctx) -> Any:
    """Parse `text` (one YAML document) into plain values, recording lines in ``ctx.lines``.

    Returns the document (None for an empty one). Syntax errors, unsafe tags, duplicate keys, bad scalars
    are recorded in `ctx`; the caller checks ``ctx.items``.
    """
    if len(text) > MAX_CHARS:
        ctx.error((), f"the file is {len(text)} characters long; a config is at most {MAX_CHARS}")
        return None
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        return _Walker(loader, ctx).walk(node, (), None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        ctx.error((), f"is not valid YAML: {what}{where}; check the indentation and quoting there", line=line)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        ctx.error((), f"is not valid YAML: character {exc.character!r} is not allowed (line {line}); "
                      "remove it or quote the value", line=line)
    except yaml.YAMLError as exc:
        ctx.error((), f"is not valid YAML: {str(exc).splitlines()[0]}")
    except _TooBig as exc:
        ctx.error((), str(exc))
    except RecursionError:
        ctx.error((), "is nested too deeply to read; a config never needs that")
    finally:
        if loader is not None:
            loader.dispose()
    return None

"""A tiny YAML writer for rule files, so generating them needs no PyYAML at runtime.

Handles what the rule files contain: mappings, lists, strings, numbers, booleans. Multi-line
strings (PromQL) become ``|-`` block scalars; other strings are plain when that is
unambiguous, else single-quoted, or double-quoted with \\u / \\U escapes when they hold
characters YAML does not allow raw.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[A-Za-z_]([A-Za-z0-9_.:/\-]*[A-Za-z0-9_])?")
_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    text = str(value)
    if (_PLAIN.fullmatch(text) and text.lower() not in _RESERVED) or _DURATION.fullmatch(text):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(_escape(ch) for ch in text) + '"'


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0e{exponent}" if exponent else f"{mantissa}.0"
    return text


def _escape(ch: str) -> str:
    if ch in '\\"':
        return "\\" + ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _blockable(text: str) -> bool:
    """A ``|-`` block keeps the text exactly only if no line needs escaping or trimming."""
    lines = text.split("\n")
    return (len(lines) > 1 and bool(lines[0]) and not lines[0][0].isspace()
            and bool(lines[-1])
            and all(line.isprintable() and line == line.rstrip() for line in lines))


def _block(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return ["|-"] + [f"{pad}{line}" if line else "" for line in text.split("\n")]


def _emit(value: object, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            _emit_item(f"{pad}{_scalar(key)}:", item, indent, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                start = len(out)
                _emit(item, indent + 2, out)
                out[start] = f"{pad}- " + out[start][indent + 2:]
            else:
                _emit_item(f"{pad}-", item, indent, out)
    else:
        raise TypeError(f"cannot emit {type(value).__name__} at top level")


def _emit_item(prefix: str, item: object, indent: int, out: list[str]) -> None:
    if isinstance(item, dict):
        if not item:
            out.append(f"{prefix} {{}}")
            return
        out.append(prefix)
        _emit(item, indent + 2, out)
    elif isinstance(item, list):
        if not item:
            out.append(f"{prefix} []")
            return
        out.append(prefix)
        _emit(item, indent + 2, out)
    elif isinstance(item, str) and _blockable(item):
        lines = _block(item, indent + 2)
        out.append(f"{prefix} {lines[0]}")
        out.extend(lines[1:])
    else:
        out.append(f"{prefix} {_scalar(item)}")


def dump(value: dict, header: str = "") -> str:
    """YAML text of ``value``; ``header`` lines become leading comments."""
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    _emit(value, 0, out)
    return "\n".join(out) + "\n"

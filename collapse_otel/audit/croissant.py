"""A Croissant JSON-LD description as an audit input: which record set holds the text and
source fields, which local files hold its records, and what the dataset declares about
synthetic data (``rai:hasSyntheticData``). The source field is the record set's field of that
name, else the text field's data-level provenance: an annotation field whose
``equivalentProperty`` is ``prov:wasAttributedTo``, ``prov:wasGeneratedBy`` or
``prov:wasDerivedFrom``.

The records themselves are read by ``inputs.read_version`` (the one reader of the audit), with
the file's columns that the fields extract. Data files are local paths, relative to the
JSON-LD file: a remote URL is refused (the audit never reaches the network). Every problem is
an ``InputError`` naming the JSON-LD file, never quoting data.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compare.inputs import InputError
from .inputs import MAX_SOURCES, MAX_VERSION_CHARS, Columns, Version, read_version

RAI = "http://mlcommons.org/croissant/RAI/"
CR = "http://mlcommons.org/croissant/"
SCHEMA_ORG = ("https://schema.org/", "http://schema.org/")
PROV = "http://www.w3.org/ns/prov#"
PROV_SOURCE = ("prov:wasAttributedTo", "prov:wasGeneratedBy", "prov:wasDerivedFrom")
MAX_BYTES = 16 << 20        # a description, not data: larger means the wrong file
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_COLUMN = re.compile(r"^\$\.(?:([A-Za-z_][A-Za-z0-9_-]*)|\[['\"]([^'\"]+)['\"]\])$")


@dataclass(frozen=True)
class Croissant:
    """What the audit takes from one Croissant description."""

    path: str                       # the JSON-LD file
    document: dict[str, Any]        # as parsed, for the written copy
    name: str
    label: str                      # the version label: its ``version``, else its name
    record_set: str
    text_field: str
    source_field: str
    columns: Columns                # the data files' columns behind the two fields
    files: tuple[str, ...]          # local data files, in order
    declared_synthetic: bool | None  # rai:hasSyntheticData, None when absent


def _get(node: dict, term: str, *namespaces: str) -> Any:
    """A property by its compact term, its ``prefix:term`` or its full IRI."""
    for key in (term, *(f"{p}:{term}" for p in ("cr", "sc", "rai", "schema")),
                *(f"{ns}{term}" for ns in namespaces)):
        if key in node:
            return node[key]
    return None


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    """A plain or language-tagged string (``{"en": ...}`` or ``{"@value": ...}``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "@value" in value:
            return _text(value["@value"])
        for v in value.values():
            if isinstance(v, str):
                return v
    if isinstance(value, list) and value:
        return _text(value[0])
    return None


def _types(node: dict) -> set[str]:
    out = set()
    for t in _list(node.get("@type")):
        if isinstance(t, str):
            out.add(t.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    return out


def _ref(node: dict) -> str | None:
    """The ``@id`` (Croissant 1.1) or ``name`` (1.0) a reference or a node goes by."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return node.get("@id") or _text(_get(node, "name", *SCHEMA_ORG))
    return None


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed JSON-LD of a Croissant dataset description."""
    path = str(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise InputError(path, 0, f"a Croissant description of {size} bytes: expected "
                                      f"at most {MAX_BYTES} (is it a data file?)")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InputError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(path, 0, "not UTF-8: not a Croissant JSON-LD file") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"not valid JSON-LD: {exc.msg} "
                                           f"(column {exc.colno})") from None
    if not isinstance(doc, dict) or "@context" not in doc:
        raise InputError(path, 0, "not Croissant JSON-LD: no top-level object with an "
                                  "@context")
    if "Dataset" not in _types(doc):
        raise InputError(path, 0, "not a Croissant dataset: its @type is not sc:Dataset")
    return doc


def declared_synthetic(path: str, doc: dict) -> bool | None:
    value = _get(doc, "hasSyntheticData", RAI)
    if isinstance(value, dict):
        value = value.get("@value")
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InputError(path, 0, "rai:hasSyntheticData must be true or false")


def _column(path: str, field: str, extract: dict) -> str:
    """The data file's column behind a field: ``column`` (CSV) or a top-level
    ``jsonPath`` (JSON lines)."""
    column = _get(extract, "column", CR)
    if isinstance(column, str) and column:
        return column
    json_path = _get(extract, "jsonPath", CR)
    if isinstance(json_path, str):
        m = _COLUMN.match(json_path.strip())
        if m:
            return m.group(1) or m.group(2)
        if json_path.strip() and "$" not in json_path and "." not in json_path:
            return json_path.strip()
        raise InputError(path, 0, f"field {field!r}: only a top-level jsonPath ($.name) is "
                                  "supported")
    raise InputError(path, 0, f"field {field!r}: its source names no column or jsonPath to "
                              "extract")


def _field_source(path: str, record_set: str, field: dict) -> tuple[str, str]:
    """(the file object or file set's reference, the column) behind a field."""
    name = _ref(field) or "?"
    source = _get(field, "source", CR)
    if not isinstance(source, dict):
        raise InputError(path, 0, f"record set {record_set!r}: field {name!r} has no source")
    ref = None
    for key in ("fileObject", "fileSet"):
        target = _get(source, key, CR)
        if target is not None:
            ref = _ref(target)
    if ref is None:
        raise InputError(path, 0, f"record set {record_set!r}: field {name!r} must take its "
                                  "values from a fileObject or a fileSet")
    extract = _get(source, "extract", CR)
    if not isinstance(extract, dict):
        raise InputError(path, 0, f"field {name!r}: its source has no extract")
    return ref, _column(path, name, extract)


def _field_name(field: dict) -> str:
    name = _text(_get(field, "name", *SCHEMA_ORG))
    return name or (field.get("@id") or "").rsplit("/", 1)[-1]


def _provenance_annotation(field: dict) -> dict | None:
    """The text field's per-record provenance: an annotation field whose
    ``equivalentProperty`` is a PROV-O property and that takes its values from a column."""
    for a in _list(_get(field, "annotation", CR)):
        if not isinstance(a, dict) or _get(a, "source", CR) is None:
            continue
        for prop in _list(_get(a, "equivalentProperty", CR)):
            iri = prop.get("@id") if isinstance(prop, dict) else prop
            if isinstance(iri, str) and iri.replace(PROV, "prov:") in PROV_SOURCE:
                return a
    return None


def _choose_record_set(path: str, doc: dict, text: str, source: str,
                       wanted: str | None) -> tuple[str, dict, dict]:
    """(record set, text field, source field): the one record set with both fields."""
    found, names = [], []
    for rs in _list(_get(doc, "recordSet", CR)):
        if not isinstance(rs, dict):
            continue
        rs_name = _text(_get(rs, "name", *SCHEMA_ORG)) or rs.get("@id") or "?"
        names.append(rs_name)
        if wanted is not None and wanted not in (rs_name, rs.get("@id")):
            continue
        fields = {_field_name(f): f for f in _list(_get(rs, "field", CR)) if isinstance(f, dict)}
        if text in fields and source not in fields:
            annotation = _provenance_annotation(fields[text])
            if annotation is not None:
                fields[source] = annotation
        if text in fields and source in fields:
            found.append((rs_name, fields[text], fields[source]))
        elif wanted is not None:
            missing = text if text not in fields else source
            raise InputError(path, 0, f"record set {wanted!r} has no field {missing!r} "
                                      f"(fields: {', '.join(sorted(fields)) or 'none'})")
    if wanted is not None and not found:
        raise InputError(path, 0, f"no record set {wanted!r} (record sets: "
                                  f"{', '.join(names) or 'none'})")
    if not found:
        raise InputError(path, 0, f"no record set has both a {text!r} and a {source!r} field "
                                  "(name them with --text-column and --source-column; record "
                                  f"sets: {', '.join(names) or 'none'})")
    if len(found) > 1:
        raise InputError(path, 0, f"record sets {', '.join(f[0] for f in found)} all have "
                                  "the fields: choose one with --record-set")
    return found[0]


def _local(path: str, url: str, what: str) -> str:
    """A local path from a contentUrl: relative to the JSON-LD file; URLs refused."""
    if url.startswith("file://"):
        return url[len("file://"):]
    if _SCHEME.match(url) and not re.match(r"^[A-Za-z]:[\\/]", url):
        raise InputError(path, 0, f"{what}: contentUrl {url!r} is remote and the audit never "
                                  "reaches the network: download it and point contentUrl "
                                  "at the local copy (a path relative to this file)")
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), url))


def _check_hash(path: str, ref: str, node: dict, local: str) -> None:
    """A declared sha256 or md5 must be the file's: else the description is of other data."""
    for algo in ("sha256", "md5"):
        want = _text(_get(node, algo, CR, *SCHEMA_ORG))
        if not want:
            continue
        digest = hashlib.new(algo)
        with open(local, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != want.strip().lower():
            raise InputError(path, 0, f"file object {ref!r}: the file's {algo} is not the one "
                                      "declared: the description is of other data")
        return


def _files(path: str, doc: dict, ref: str) -> tuple[str, ...]:
    """The local data files of a file object or a file set."""
    resources = {}
    for r in _list(_get(doc, "distribution", *SCHEMA_ORG)):
        if isinstance(r, dict):
            for key in {r.get("@id"), _text(_get(r, "name", *SCHEMA_ORG))} - {None}:
                resources[key] = r
    node = resources.get(ref)
    if node is None:
        raise InputError(path, 0, f"no file object or file set {ref!r} in the distribution")
    types = _types(node)
    if "FileObject" in types:
        url = _text(_get(node, "contentUrl", *SCHEMA_ORG))
        if not url:
            raise InputError(path, 0, f"file object {ref!r} has no contentUrl")
        if _get(node, "containedIn", CR) is not None:
            raise InputError(path, 0, f"file object {ref!r} is inside another resource: "
                                      "extract it and describe the file itself")
        local = _local(path, url, f"file object {ref!r}")
        if not os.path.isfile(local):
            raise InputError(path, 0, f"file object {ref!r}: no file {url!r} beside the "
                                      "description")
        _check_hash(path, ref, node, local)
        return (local,)
    if "FileSet" in types:
        base = os.path.dirname(os.path.abspath(path))
        for parent in _list(_get(node, "containedIn", CR)):
            parent_node = resources.get(_ref(parent) or "")
            url = _text(_get(parent_node or {}, "contentUrl", *SCHEMA_ORG)) or ""
            base = _local(path, url, f"file set {ref!r}") if url else base
            if not os.path.isdir(base):
                raise InputError(path, 0, f"file set {ref!r}: it is contained in a file "
                                          "(an archive?): extract it to a local directory "
                                          "and describe that")
        files: list[str] = []
        for pattern in _list(_get(node, "includes", CR)):
            if not isinstance(pattern, str) or _SCHEME.match(pattern):
                raise InputError(path, 0, f"file set {ref!r}: includes must be local glob "
                                          "patterns")
            files += sorted(p for p in glob.glob(os.path.join(base, pattern), recursive=True)
                            if os.path.isfile(p))
        if not files:
            raise InputError(path, 0, f"file set {ref!r}: its includes match no local file")
        return tuple(dict.fromkeys(files))
    raise InputError(path, 0, f"{ref!r} is neither a cr:FileObject nor a cr:FileSet")


def read_croissant(path: str | os.PathLike[str], text: str = "text", source: str = "source",
                   record_set: str | None = None) -> Croissant:
    """The description, with the fields named ``text`` and ``source`` resolved to files."""
    path = str(path)
    doc = load(path)
    rs, text_node, source_node = _choose_record_set(path, doc, text, source, record_set)
    text_ref, text_column = _field_source(path, rs, text_node)
    source_ref, source_column = _field_source(path, rs, source_node)
    if text_ref != source_ref:
        raise InputError(path, 0, f"record set {rs!r}: the {text!r} and {source!r} fields "
                                  "come from different files (a join is not supported)")
    files = _files(path, doc, text_ref)
    name = _text(_get(doc, "name", *SCHEMA_ORG)) or Path(path).stem
    version = _get(doc, "version", *SCHEMA_ORG)
    label = str(version) if isinstance(version, (str, int, float)) and str(version) else name
    # An empty version column: no row has that key, so the label is the description's.
    columns = Columns(text_column, source_column, "")
    return Croissant(path, doc, name, label.strip()[:MAX_VERSION_CHARS] or "croissant", rs,
                     text, source, columns, files, declared_synthetic(path, doc))


def read_records(c: Croissant) -> Version:
    """The record set's rows, read file after file by the audit's one reader."""
    out = Version(c.label, c.files[0] if len(c.files) == 1 else c.path, "")
    kinds = []
    for f in c.files:
        v = read_version(f, c.columns)
        kinds.append(v.kind)
        out.lines += v.lines
        out.texts += v.texts
        out.sources += v.sources
    if len(set(out.sources)) > MAX_SOURCES:
        raise InputError(c.path, 0, f"more than {MAX_SOURCES} distinct sources across its "
                                    f"files: is {c.source_field!r} the right field?")
    out.kind = "+".join(dict.fromkeys(kinds))
    out.declared_synthetic = c.declared_synthetic
    return out

"""Decoding contract documents (YAML or JSON) into typed terms, reporting every structural problem.

Two rules shape this module:

* Money never passes through IEEE 754 doubles. YAML is parsed with number/bool/date resolvers
  removed, so every scalar stays text until msgspec converts it to the declared type (Decimal, int,
  date); JSON numbers are decoded from their literal text straight into Decimal.
* A finance user fixing a contract wants the whole list of problems at once, but msgspec stops at the
  first error. So the document is walked field by field against the struct definitions, collecting
  each problem with its JSON-pointer path, and only then converted in one go.

``load_terms`` reads a file when given a path: the one place the billing package touches the file
system, kept at the edge so the engine itself stays pure.
"""

from __future__ import annotations

import os
import types
import typing
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec
import yaml

from billing.errors import InvalidTerms, Problem
from billing.terms import ContractTerms, ContractVersion
from core import decimal_bounds

T = TypeVar("T")

Source = str | os.PathLike[str] | bytes | bytearray


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps every scalar as text except null (see module docstring)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.endswith((":null", ":merge"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    # A duplicated key silently overriding an earlier price is exactly the kind of error that ends in a
    # disputed invoice, so duplicates are rejected instead of "last one wins".
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class DocumentError(ValueError):
    """The bytes are not a YAML/JSON document at all."""


def _json_tree(raw: bytes) -> Any:
    head = raw.lstrip()[:1]
    if head == b"{":
        obj = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
        return {k: _json_tree(bytes(v)) for k, v in obj.items()}
    if head == b"[":
        arr = msgspec.json.decode(raw, type=list[msgspec.Raw])
        return [_json_tree(bytes(v)) for v in arr]
    if head and head in b"-0123456789":
        text = raw.strip()
        if any(c in text for c in b".eE"):
            return msgspec.json.decode(text, type=Decimal)
        return int(text)
    return msgspec.json.decode(raw)


def parse_document(data: bytes | bytearray | str) -> Any:
    """Parse YAML or JSON text into plain Python values with exact Decimal numbers."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    stripped = raw.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return _json_tree(stripped)
        except msgspec.DecodeError:
            pass  # YAML flow syntax also starts with { or [
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_Loader)  # a SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DocumentError(f"not a valid YAML or JSON document: {exc}") from exc


def read_source(source: Source) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    with open(source, "rb") as fh:
        return fh.read()


# -- structural walk -----------------------------------------------------------------------------

_PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, date):
        return "date"
    return type(value).__name__


def _leaf_message(tp: Any, value: Any, exc: msgspec.ValidationError) -> str:
    msg = str(exc).split(" - at `")[0]
    if get_origin(tp) is typing.Annotated:
        for meta in get_args(tp)[1:]:
            if isinstance(meta, msgspec.Meta) and meta.pattern == _PERIOD_PATTERN:
                return f"must be a period YYYY-MM (terms change only at period boundaries), got {value!r}"
            if isinstance(meta, msgspec.Meta) and meta.pattern:
                return f"must be an identifier (letters, digits and . _ : @ + -), got {value!r}"
    if "decimal" in msg:
        return f"must be a decimal number, got {_type_name(value)} {value!r}"
    return f"{msg} (got {_type_name(value)} {value!r})"


def _leaf(value: Any, tp: Any, path: str, problems: list[Problem]) -> None:
    origin = get_origin(tp)
    if origin is typing.Literal:
        allowed = get_args(tp)
        if value not in allowed:
            problems.append(Problem(path, f"must be one of {', '.join(map(str, allowed))}; got {value!r}"))
        return
    try:
        converted = msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        problems.append(Problem(path, _leaf_message(tp, value, exc)))
        return
    kind = bounds_kind(tp)
    if kind is not None:
        msg = decimal_bounds.problem(converted, kind)
        if msg is not None:
            problems.append(Problem(path, msg))


def bounds_kind(tp: Any) -> decimal_bounds.Kind | None:
    """The number kind a decimal field declares (``Meta(extra={"bounds": ...})``); plain Decimal: ``decimal``."""
    if get_origin(tp) is typing.Annotated:
        base, *metas = get_args(tp)
        for meta in metas:
            if isinstance(meta, msgspec.Meta) and meta.extra and "bounds" in meta.extra:
                kind: decimal_bounds.Kind = meta.extra["bounds"]
                return kind
        return bounds_kind(base)
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        return bounds_kind(members[0]) if len(members) == 1 else None
    return "decimal" if tp is Decimal else None


def bound_problems(value: Any, tp: Any, path: str = "") -> list[Problem]:
    """Every decimal in an already-built value (terms, inputs) outside its kind's bounds.

    Terms built in code or decoded elsewhere never passed through the document walk, so ``validate_terms``
    and the engine check them again here before any arithmetic can meet a NaN or a 400-digit number.
    """
    out: list[Problem] = []
    _bounds_walk(value, tp, path, out)
    return out


def _bounds_walk(value: Any, tp: Any, path: str, out: list[Problem]) -> None:
    if value is None:
        return
    if isinstance(value, Decimal):
        msg = decimal_bounds.problem(value, _kind_of(tp))
        if msg is not None:
            out.append(Problem(path, msg))
        return
    if isinstance(value, msgspec.Struct):
        for name, encode_name, field_tp in _struct_fields(type(value)):
            _bounds_walk(getattr(value, name), field_tp, f"{path}/{encode_name}", out)
    elif isinstance(value, list):
        item_tp = _container_arg(tp, 0)
        for i, item in enumerate(value):
            _bounds_walk(item, item_tp, f"{path}/{i}", out)
    elif isinstance(value, dict):
        val_tp = _container_arg(tp, 1)
        for k, v in value.items():
            _bounds_walk(v, val_tp, f"{path}/{k}", out)


# msgspec.structs.fields re-evaluates annotations on every call; the walk runs once per terms document and
# once per rating, so field lists and kinds are worked out once per type.
_FIELDS: dict[type, list[tuple[str, str, Any]]] = {}
_KINDS: dict[int, tuple[Any, decimal_bounds.Kind]] = {}


def _struct_fields(cls: type) -> list[tuple[str, str, Any]]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = [(f.name, f.encode_name, f.type) for f in msgspec.structs.fields(cls)]
    return fields


def _kind_of(tp: Any) -> decimal_bounds.Kind:
    hit = _KINDS.get(id(tp))
    if hit is None or hit[0] is not tp:
        hit = _KINDS[id(tp)] = (tp, bounds_kind(tp) or "decimal")
    return hit[1]


def _container_arg(tp: Any, index: int) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        tp = members[0] if len(members) == 1 else tp
    args = get_args(tp)
    return args[index] if len(args) > index else Any


def _walk(value: Any, tp: Any, path: str, problems: list[Problem]) -> None:
    origin = get_origin(tp)
    if _is_struct(tp):
        _walk_struct(value, tp, path, problems)
    elif origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) not in args:
                problems.append(Problem(path, "must not be null"))
            return
        structs = [a for a in args if _is_struct(a)]
        if structs and isinstance(value, dict):
            _walk_union_struct(value, structs, path, problems)
            return
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            _walk(value, non_null[0], path, problems)
        else:
            _leaf(value, tp, path, problems)
    elif origin is list:
        if not isinstance(value, list):
            problems.append(Problem(path, f"must be a list, got {_type_name(value)}"))
            return
        (item_tp,) = get_args(tp)
        for i, item in enumerate(value):
            _walk(item, item_tp, f"{path}/{i}", problems)
    elif origin is dict:
        if not isinstance(value, dict):
            problems.append(Problem(path, f"must be an object, got {_type_name(value)}"))
            return
        key_tp, val_tp = get_args(tp)
        for k, v in value.items():
            _leaf(k, key_tp, f"{path}/{k}", problems)
            _walk(v, val_tp, f"{path}/{k}", problems)
    else:
        _leaf(value, tp, path, problems)


def _walk_union_struct(value: dict[str, Any], structs: list[Any], path: str, problems: list[Problem]) -> None:
    tag_field = structs[0].__struct_config__.tag_field
    if tag_field is None:
        _walk_struct(value, structs[0], path, problems)
        return
    by_tag = {s.__struct_config__.tag: s for s in structs}
    tag = value.get(tag_field)
    if tag is None:
        problems.append(Problem(f"{path}/{tag_field}", f"missing; must be one of {', '.join(by_tag)}"))
        return
    if tag not in by_tag:
        problems.append(Problem(f"{path}/{tag_field}", f"must be one of {', '.join(by_tag)}; got {tag!r}"))
        return
    _walk_struct(value, by_tag[tag], path, problems)


def _walk_struct(value: Any, cls: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, dict):
        problems.append(Problem(path or "/", f"must be an object, got {_type_name(value)}"))
        return
    fields = msgspec.structs.fields(cls)
    names = {f.encode_name for f in fields}
    tag_field = cls.__struct_config__.tag_field
    for key in value:
        if key not in names and key != tag_field:
            problems.append(Problem(f"{path}/{key}", "unknown field (check the spelling; see docs/contracts.md)"))
    for f in fields:
        if f.encode_name in value:
            _walk(value[f.encode_name], f.type, f"{path}/{f.encode_name}", problems)
        elif f.required:
            problems.append(Problem(f"{path}/{f.encode_name}", "required field is missing"))


def convert_document(tree: Any, type_: type[T]) -> tuple[T | None, list[Problem]]:
    """Convert a parsed document to ``type_``, returning every structural problem found."""
    problems: list[Problem] = []
    _walk(tree, type_, "", problems)
    if problems:
        return None, problems
    try:
        return msgspec.convert(tree, type_, strict=False), []
    except msgspec.ValidationError as exc:  # pragma: no cover - the walk should have caught it
        return None, [Problem("", str(exc))]


def decode_document(source: Source, type_: type[T]) -> tuple[T | None, list[Problem]]:
    try:
        tree = parse_document(read_source(source))
    except DocumentError as exc:
        return None, [Problem("", str(exc))]
    return convert_document(tree, type_)


def parse_terms(source: Source) -> tuple[ContractTerms | None, list[Problem]]:
    """Structural decoding only (types, required and unknown fields)."""
    return decode_document(source, ContractTerms)


def load_terms(source: Source) -> ContractTerms:
    """Decode and fully validate a contract document; raises InvalidTerms listing every problem."""
    from billing.validate import validate_terms

    terms, problems = parse_terms(source)
    if terms is None:
        raise InvalidTerms(problems)
    problems = validate_terms(terms)
    if problems:
        raise InvalidTerms(problems)
    return terms


def load_version(source: Source) -> ContractVersion:
    """Decode a single terms version (e.g. a proposed amendment for bill-shock simulation)."""
    version, problems = decode_document(source, ContractVersion)
    if version is None:
        raise InvalidTerms(problems)
    return version

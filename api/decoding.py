"""Strict JSON body decoding that reports *every* bad field, not just the first.

msgspec stops at the first error, which is right for speed and wrong for a client fixing a form. Valid
bodies take msgspec's fast path; only on failure do we walk the type and collect each problem with an
RFC 6901 pointer. Structs may add domain checks by defining ``problems() -> list[FieldError]``.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, Union

import msgspec

from api.problems import FieldError, MalformedJson, ProblemError, ValidationFailed
from api.validators import decimal_bounds_check, unstorable_fields

T = TypeVar("T")

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _join(pointer: str, token: str | int) -> str:
    return f"{pointer}/{_escape(str(token))}"


def _split_message(message: str) -> tuple[str, str]:
    """msgspec says ``Expected `int`, got `str` - at `$.a[0]```; we want a pointer and a plain detail."""
    match = _AT.search(message)
    if not match:
        return "", message
    pointer = ""
    for name, index in _PART.findall(match.group("path")):
        pointer = _join(pointer, name or index)
    return pointer, message[: match.start()]


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_sequence(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (list, set, frozenset):
        return True
    args = typing.get_args(tp)
    return origin is tuple and len(args) == 2 and args[1] is ...


def _as_json(value: Any, tp: Any) -> Any:
    """Decode a part of the body as the JSON decoder does (object keys are strings in JSON: ``dict[int, …]``
    takes ``"3"``), so the per-field error report never refuses what the decoder itself accepts."""
    return msgspec.json.decode(msgspec.json.encode(value), type=tp, strict=True)


def _collect(value: Any, tp: Any, pointer: str) -> list[FieldError]:
    try:
        _as_json(value, tp)
        return []
    except msgspec.ValidationError as exc:
        first = str(exc)
    base = _strip_annotated(tp)
    origin = typing.get_origin(base)
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(base) if a is not type(None)]
        if value is not None and len(members) == 1:
            return _collect(value, members[0], pointer)
    elif _is_struct(base):
        if not isinstance(value, dict):
            return [FieldError(pointer=pointer or "/", detail="expected an object")]
        errors: list[FieldError] = []
        fields = msgspec.structs.fields(base)
        known = {f.encode_name for f in fields}
        checks = field_checks(base)
        for field in fields:
            path = _join(pointer, field.encode_name)
            if field.encode_name not in value:
                if field.required:
                    errors.append(FieldError(pointer=path, detail="required field is missing"))
                continue
            field_errors = _collect(value[field.encode_name], field.type, path)
            if not field_errors and field.name in checks:
                converted = _as_json(value[field.encode_name], field.type)
                field_errors = checks[field.name](path, converted)
            errors += field_errors
        if getattr(base.__struct_config__, "forbid_unknown_fields", False):
            for key in value:
                if key not in known:
                    errors.append(FieldError(pointer=_join(pointer, key), detail="unknown field"))
        if errors:
            return errors
    elif _is_sequence(base) and isinstance(value, list):
        args = typing.get_args(base)
        if args:
            item_errors: list[FieldError] = []
            for index, item in enumerate(value):
                item_errors += _collect(item, args[0], _join(pointer, index))
            if item_errors:
                return item_errors
    elif origin is dict and isinstance(value, dict):
        _key_type, value_type = typing.get_args(base)
        dict_errors: list[FieldError] = []
        for key, item in value.items():
            dict_errors += _collect(item, value_type, _join(pointer, key))
        if dict_errors:
            return dict_errors
    sub_pointer, detail = _split_message(first)
    return [FieldError(pointer=(pointer + sub_pointer) or "/", detail=detail)]


FieldCheck = Callable[[str, Any], list[FieldError]]


def field_checks(struct_type: Any) -> dict[str, FieldCheck]:
    """Per-field domain checks a struct declares as ``__field_checks__ = {"field": check}``."""
    return getattr(struct_type, "__field_checks__", {})


def domain_problems(value: Any, pointer: str = "") -> list[FieldError]:
    """Field checks (recursing into nested structs) plus the struct's own cross-field ``problems()``."""
    if not isinstance(value, msgspec.Struct):
        return []
    errors: list[FieldError] = []
    checks = field_checks(type(value))
    for field in msgspec.structs.fields(value):
        item = getattr(value, field.name)
        path = _join(pointer, field.encode_name)
        if field.name in checks and item is not msgspec.UNSET:
            errors += checks[field.name](path, item)
        elif isinstance(item, Decimal):  # every decimal is finite and bounded, checked or not (issue 14)
            errors += decimal_bounds_check(path, item)
        if isinstance(item, msgspec.Struct):
            errors += domain_problems(item, path)
        elif isinstance(item, list):
            for index, element in enumerate(item):
                errors += domain_problems(element, _join(path, index))
    check = getattr(value, "problems", None)
    if callable(check):
        errors += [
            FieldError(pointer=pointer + (e.pointer or ""), detail=e.detail, parameter=e.parameter) for e in check()
        ]
    return errors


# The only way msgspec hands us a string PostgreSQL cannot store is the ``\u0000`` escape (it refuses raw
# control bytes, invalid UTF-8 and lone surrogate escapes as malformed JSON), so a body without it skips the walk.
_NUL_ESCAPE = b"\\u0000"


def _merge(first: list[FieldError], then: list[FieldError]) -> list[FieldError]:
    """``first`` wins where both name the same field: "contains NUL" says more than "does not match"."""
    named = {e.pointer for e in first}
    return first + [e for e in then if e.pointer not in named]


def _lone_surrogate_fields(raw: bytes) -> list[FieldError]:
    """msgspec rejects a lone surrogate escape (``"\ud800"``) as malformed JSON without naming the field. RFC
    8259 allows the escape, so a client sending one gets 422 naming the field; the standard library's parser,
    which accepts it, finds where, on this error path only."""
    try:
        loose = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    return unstorable_fields(loose)


def _malformed(raw: bytes, exc: msgspec.DecodeError) -> ProblemError:
    surrogates = _lone_surrogate_fields(raw)
    if surrogates:
        return ValidationFailed(f"{len(surrogates)} invalid field(s)", errors=surrogates)
    return MalformedJson(str(exc))


_EXACT = msgspec.json.Decoder(float_hook=Decimal)
_EXACT_OUT = msgspec.json.Encoder(decimal_format="number")


def _integral_floats_as_ints(raw: bytes, errors: list[FieldError]) -> bytes | None:
    """JSON Schema counts ``52.0`` as an integer, msgspec does not: the body again with every integer field
    sent as an integral number written as an integer (re-encoded exactly: other numbers stay as they were
    sent), or None when there is none — then the errors stand as they are."""
    wanted = [e for e in errors if _int_got_float(e)]
    if not wanted:
        return None
    tree = _EXACT.decode(raw)
    changed = False
    for error in wanted:
        assert error.pointer is not None
        *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in error.pointer.split("/")[1:]]
        node: Any = tree
        try:
            for token in parents:
                node = node[int(token)] if isinstance(node, list) else node[token]
            key: Any = int(last) if isinstance(node, list) else last
            value = node[key]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            node[key] = int(value)
            changed = True
    if not changed:
        return None
    encoded: bytes = _EXACT_OUT.encode(tree)
    return encoded


def _int_got_float(error: FieldError) -> bool:
    return error.pointer is not None and error.detail.startswith("Expected `int") and "got `float`" in error.detail


def decode_json(raw: bytes, type_: type[T]) -> T:
    """Decode ``raw`` as ``type_`` strictly; raise 400 for broken JSON, 422 listing every bad field, text that
    cannot be stored (``api.validators.unstorable``) included."""
    try:
        result = msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError:
        try:
            loose = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:  # the typed pass stopped at a type error before the bad escape
            raise _malformed(raw, exc) from None
        errors = _merge(unstorable_fields(loose) if _NUL_ESCAPE in raw else [], _collect(loose, type_, ""))
        integral = _integral_floats_as_ints(raw, errors)
        if integral is None:
            raise ValidationFailed(f"{len(errors)} invalid field(s)", errors=errors) from None
        return decode_json(integral, type_)
    except msgspec.DecodeError as exc:
        raise _malformed(raw, exc) from None
    unstorable_text = unstorable_fields(msgspec.json.decode(raw)) if _NUL_ESCAPE in raw else []
    problems = _merge(unstorable_text, domain_problems(result)) if unstorable_text else domain_problems(result)
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid field(s)", errors=problems)
    return result

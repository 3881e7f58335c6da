"""Kubernetes protobuf request bodies, decoded into the JSON dicts the rest of the sim works on.

kubectl sends some bodies only as `application/vnd.kubernetes.protobuf`, with no JSON fallback: every
`kubectl create <subcommand>` (`create token` included) and the review kinds of `kubectl auth
can-i`/`whoami`; other client-go programs post built-in kinds such as policy/v1 Evictions the same way
(kubectl 1.37's own `drain` happens to send its evictions as JSON). A server that cannot read them is
told apart at once, so this module reads them - and only reads them: responses stay JSON (client-go
decodes by the response Content-Type).

The format is the one kube-apiserver speaks: the 4-byte prefix `k8s\\x00`, then a `runtime.Unknown`
envelope (typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4) whose `raw` is the
object's own message. The message layouts are data (`protobuf_schemas*.py`); this module holds the wire
reader and one schema-driven decoder that turns a message into exactly the dict `json.Marshal` of the
same Go object would give:

* camelCase JSON names; `inline` members (e.g. a Volume's VolumeSource) merged into their parent;
* zero scalars dropped the way `omitempty` drops them - except fields marked keep-zero (`!`): Go
  pointers (`replicas: 0` is not "unset") and fields whose JSON tag has no `omitempty` (`containerPort`);
  the Go encoder writes every non-pointer scalar and no nil pointer, so "present on the wire" is
  exactly "non-nil" for the pointers;
* embedded messages kept even when empty (encoding/json never omits a struct: `status: {}`);
* the well-known types as their JSON forms: Quantity -> its string, IntOrString -> int or str,
  Time -> RFC 3339 (a zero Time is left out rather than `null`), bytes -> base64,
  FieldsV1 -> the embedded JSON, ExtraValue -> a list of strings.

A field number the tables do not know is an error naming the message and the number, never a silent
drop: a gap in the tables must show up, not lose data. Malformed input of any kind raises
`ProtobufError` (a `ValueError`) and nothing else.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from prophet_sre.sim.protobuf_schemas import KINDS, MESSAGES

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_SCALARS = frozenset({"s", "i32", "i64", "b", "by"})
_NUMERIC = frozenset({"i32", "i64", "b"})
"""Kinds carried as varints (Kubernetes messages have no floating-point or fixed-width fields)."""
_MAX_DEPTH = 64
_RETIRED = "-"


class ProtobufError(ValueError):
    """A body that is not a well-formed Kubernetes protobuf message of a kind the sim knows."""


# ------------------------------------------------------------------------------------------ wire format


def _varint(buf: bytes, i: int, where: str) -> tuple[int, int]:
    """The unsigned varint at `i` and the offset after it; at most 10 bytes and 64 bits, as Go reads."""
    out = shift = 0
    n = len(buf)
    while True:
        if i >= n:
            raise ProtobufError(f"{where}: truncated varint")
        c = buf[i]
        i += 1
        out |= (c & 0x7F) << shift
        if c < 0x80:
            if out >> 64:
                raise ProtobufError(f"{where}: varint overflows 64 bits")
            return out, i
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"{where}: varint longer than 10 bytes")


def iter_fields(buf: bytes, where: str = "message") -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field: an int for varint/fixed, bytes if length-delimited.

    Groups (wire types 3/4) never occur in Kubernetes messages and are rejected like any other garbage.
    """
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i, where)
        num, wire = key >> 3, key & 7
        if num == 0 or num > 0x1FFFFFFF:
            raise ProtobufError(f"{where}: invalid field number {num}")
        if wire == _VARINT:
            value, i = _varint(buf, i, where)
            yield num, wire, value
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if i + size > n:
                raise ProtobufError(f"{where}: truncated fixed-width field {num}")
            yield num, wire, int.from_bytes(buf[i:i + size], "little")
            i += size
        elif wire == _BYTES:
            size, i = _varint(buf, i, where)
            if i + size > n:
                raise ProtobufError(f"{where}: field {num} runs past the end of the message")
            yield num, wire, buf[i:i + size]
            i += size
        else:
            raise ProtobufError(f"{where}: unsupported wire type {wire} for field {num}")


def _signed(value: int, bits: int) -> int:
    """Two's complement reinterpretation with Go's truncating conversion (`int32(v)` of a varint)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _text(raw: bytes) -> str:
    """Go strings carry any bytes and encoding/json writes invalid UTF-8 as U+FFFD; do the same."""
    return raw.decode("utf-8", errors="replace")


# ------------------------------------------------------------------------------------------ the tables


@dataclass(frozen=True)
class Field:
    """One field of a message table: where it goes in JSON and how its wire value is read."""

    number: int
    name: str
    kind: str
    """A scalar (s, i32, i64, b, by), a well-known type (q, ios, t, fv, xs), `-` or a message name."""
    repeated: bool = False
    mapped: bool = False
    """A `map<string, kind>` (repeated entries key=1, value=2), a JSON object."""
    inline: bool = False
    """A Go-embedded (`json:",inline"`) member: its fields land in the parent's object."""
    keep_zero: bool = False
    """Pointer or no-omitempty scalar: a zero value on the wire is kept, not dropped."""


def parse_field(number: int, spec: str, message: str) -> Field:
    """One `name:type` entry of the table DSL (see `protobuf_schemas`) as a `Field`."""
    name, _, kind = spec.partition(":")
    kind = kind or "s"
    repeated = mapped = inline = keep = False
    if kind.endswith("!"):
        keep, kind = True, kind[:-1]
    if kind.startswith("[]"):
        repeated, kind = True, kind[2:]
    elif kind.startswith("{}"):
        mapped, kind = True, kind[2:]
    elif kind.startswith("^"):
        inline, kind = True, kind[1:]
    if not name or not kind or (keep and (kind not in _SCALARS or repeated or mapped)):
        raise ValueError(f"bad protobuf table entry {message}.{number}: {spec!r}")
    return Field(number, name, kind, repeated, mapped, inline, keep)


_KNOWN_KINDS = _SCALARS | {"q", "ios", "t", "fv", "xs", _RETIRED}


def parse_table(message: str, text: str) -> dict[int, Field]:
    """A message table: whitespace-separated `number:name[:type]` entries, in Go struct order."""
    fields: dict[int, Field] = {}
    for token in text.split():
        num, _, spec = token.partition(":")
        if not num.isdigit() or int(num) in fields:
            raise ValueError(f"bad protobuf table entry {message}: {token!r}")
        fields[int(num)] = parse_field(int(num), spec, message)
    return fields


def _build(messages: dict[str, str]) -> dict[str, dict[int, Field]]:
    """Parse every table and check that each message type a field names has a table of its own."""
    schemas = {name: parse_table(name, text) for name, text in messages.items()}
    for name, fields in schemas.items():
        for f in fields.values():
            if f.kind not in _KNOWN_KINDS and f.kind not in schemas:
                raise ValueError(f"protobuf table {name}.{f.name} names unknown message {f.kind}")
    return schemas


SCHEMAS: dict[str, dict[int, Field]] = _build(MESSAGES)
"""Every message table, parsed: message name -> field number -> `Field`."""

# ------------------------------------------------------------------------------------------ decoding


def _expect(msg: str, f: Field, wire: int) -> None:
    """Reject a wire type that cannot carry the field's kind (packed repeated numbers come as bytes)."""
    if f.kind == _RETIRED:
        return
    if f.mapped or f.kind not in _NUMERIC:
        ok = wire == _BYTES
    else:
        ok = wire == _VARINT or (f.repeated and wire == _BYTES)
    if not ok:
        raise ProtobufError(f"{msg}: field {f.number} ({f.name}) has wire type {wire}, which cannot carry it")


def _number(kind: str, raw: int) -> int | bool:
    """A varint as the field's Go type: int32/int64 (sign-extended, truncated like Go) or bool."""
    if kind == "b":
        return raw != 0
    return _signed(raw, 32 if kind == "i32" else 64)


def _packed(msg: str, f: Field, raw: bytes) -> list[int | bool]:
    """The values of a packed repeated numeric field (proto2 writes them unpacked; accept both)."""
    out: list[int | bool] = []
    i = 0
    while i < len(raw):
        value, i = _varint(raw, i, f"{msg}.{f.name}")
        out.append(_number(f.kind, value))
    return out


def _sub(raw: bytes, msg: str, allowed: dict[int, tuple[str, int]]) -> dict[str, Any]:
    """The fields of a small fixed-layout message (the well-known types): name -> last value."""
    out: dict[str, Any] = {}
    for num, wire, value in iter_fields(raw, msg):
        if num not in allowed:
            raise ProtobufError(f"{msg}: unknown field number {num}")
        name, want = allowed[num]
        if wire != want:
            raise ProtobufError(f"{msg}: field {num} ({name}) has wire type {wire}, which cannot carry it")
        out[name] = value
    return out


def _quantity(raw: bytes) -> str:
    """resource.Quantity: `string = 1`, its canonical text. Absent means the zero quantity, "0"."""
    value = _sub(raw, "Quantity", {1: ("string", _BYTES)}).get("string")
    if value is None:
        return "0"
    text = _text(value)
    if not text:
        raise ProtobufError("Quantity: quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    return text


def _int_or_string(raw: bytes) -> int | str:
    """intstr.IntOrString: type=1 (0 int, 1 string), intVal=2, strVal=3."""
    f = _sub(raw, "IntOrString", {1: ("type", _VARINT), 2: ("intVal", _VARINT), 3: ("strVal", _BYTES)})
    kind = _signed(f.get("type", 0), 64)
    if kind == 0:
        return _signed(f.get("intVal", 0), 32)
    if kind == 1:
        return _text(f.get("strVal", b""))
    raise ProtobufError(f"IntOrString: impossible type {kind}")


def _timestamp(raw: bytes) -> str | None:
    """metav1.Time (seconds=1, nanos=2) as JSON writes it: RFC 3339 in UTC, whole seconds; an empty
    message is Go's zero time, which JSON writes as null and is left out here."""
    if not raw:
        return None
    f = _sub(raw, "Time", {1: ("seconds", _VARINT), 2: ("nanos", _VARINT)})
    seconds, nanos = _signed(f.get("seconds", 0), 64), _signed(f.get("nanos", 0), 32)
    try:
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as e:
        raise ProtobufError(f"Time: seconds {seconds} is out of range") from e
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def _fields_v1(raw: bytes) -> Any:
    """metav1.FieldsV1 (Raw=1): the managed-fields trie, which JSON carries as the embedded document."""
    doc = _sub(raw, "FieldsV1", {1: ("Raw", _BYTES)}).get("Raw") or b"{}"
    try:
        return orjson.loads(doc)
    except orjson.JSONDecodeError as e:
        raise ProtobufError(f"FieldsV1: Raw is not JSON: {e}") from e


def _extra_value(raw: bytes) -> list[str]:
    """ExtraValue (`repeated string items = 1`), which JSON writes as the bare list."""
    out = []
    for num, wire, value in iter_fields(raw, "ExtraValue"):
        if num != 1 or wire != _BYTES:
            raise ProtobufError(f"ExtraValue: unknown field number {num}")
        assert isinstance(value, bytes)
        out.append(_text(value))
    return out


_WELL_KNOWN: dict[str, Callable[[bytes], Any]] = {
    "q": _quantity,
    "ios": _int_or_string,
    "t": _timestamp,
    "fv": _fields_v1,
    "xs": _extra_value,
}


def _value(kind: str, raw: bytes, depth: int) -> Any:
    """A length-delimited value of `kind` (string, bytes, well-known type or message)."""
    if kind == "s":
        return _text(raw)
    if kind == "by":
        return base64.b64encode(raw).decode()
    if kind in _WELL_KNOWN:
        return _WELL_KNOWN[kind](raw)
    return decode_message(kind, raw, _depth=depth + 1)


def _map_entry(msg: str, f: Field, raw: bytes, depth: int) -> tuple[str, Any]:
    """One `map<string, V>` entry (key=1, value=2); a missing value is V's zero."""
    key, value = "", None
    where = f"{msg}.{f.name} entry"
    for num, wire, item in iter_fields(raw, where):
        if num not in (1, 2):
            raise ProtobufError(f"{where}: unknown field number {num}")
        if num == 1:
            if wire != _BYTES:
                raise ProtobufError(f"{where}: key has wire type {wire}")
            assert isinstance(item, bytes)
            key = _text(item)
        elif f.kind in _NUMERIC:
            if wire != _VARINT:
                raise ProtobufError(f"{where}: value has wire type {wire}")
            assert isinstance(item, int)
            value = _number(f.kind, item)
        else:
            if wire != _BYTES:
                raise ProtobufError(f"{where}: value has wire type {wire}")
            assert isinstance(item, bytes)
            value = _value(f.kind, item, depth)
    if value is None:  # Go's zero value of V (a zero Time stays null)
        value = _number(f.kind, 0) if f.kind in _NUMERIC else _value(f.kind, b"", depth)
    return key, value


def decode_message(message: str, raw: bytes, *, _depth: int = 0) -> dict[str, Any]:
    """Decode `raw` as the table `message` into its JSON dict (see the module docstring for the rules)."""
    schema = SCHEMAS.get(message)
    if schema is None:
        raise ProtobufError(f"no protobuf table for message {message}")
    if _depth > _MAX_DEPTH:
        raise ProtobufError(f"{message}: messages nested too deeply")
    seen: dict[int, list[int | bytes]] = {}
    for num, wire, value in iter_fields(raw, message):
        f = schema.get(num)
        if f is None:
            raise ProtobufError(f"{message}: unknown field number {num}")
        _expect(message, f, wire)
        seen.setdefault(num, []).append(value)
    out: dict[str, Any] = {}
    for num, f in schema.items():
        if num not in seen or f.kind == _RETIRED:
            continue
        values = seen[num]
        if f.mapped:
            out[f.name] = dict(_map_entry(message, f, v, _depth) for v in values if isinstance(v, bytes))
        elif f.repeated:
            items: list[Any] = []
            for v in values:
                if isinstance(v, int):
                    items.append(_number(f.kind, v))
                elif f.kind in _NUMERIC:
                    items.extend(_packed(message, f, v))
                else:
                    items.append(_value(f.kind, v, _depth))
            out[f.name] = items
        elif f.kind in _NUMERIC:
            last = values[-1]
            assert isinstance(last, int)
            value = _number(f.kind, last)
            if f.keep_zero or value:
                out[f.name] = value
        else:
            # a scalar seen twice keeps the last value; a message seen twice is merged, which is
            # exactly what decoding the concatenation of its occurrences does
            chunks = [v for v in values if isinstance(v, bytes)]
            value = _value(f.kind, chunks[-1] if f.kind in _SCALARS else b"".join(chunks), _depth)
            if f.inline:
                out.update(value)
            elif value is not None and (f.keep_zero or f.kind not in _SCALARS or value != ""):
                out[f.name] = value
    return out


# ------------------------------------------------------------------------------------------ envelope


@dataclass(frozen=True)
class Envelope:
    """The `runtime.Unknown` wrapper of a protobuf body: what the object is, and its message bytes."""

    api_version: str
    kind: str
    raw: bytes
    content_encoding: str = ""
    content_type: str = ""


def read_envelope(body: bytes) -> Envelope:
    """Check the `k8s\\x00` prefix and unwrap the envelope (typeMeta=1, raw=2, encoding=3, type=4)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf prefix 'k8s\\x00'")
    f = _sub(body[len(MAGIC):], "Unknown", {1: ("typeMeta", _BYTES), 2: ("raw", _BYTES),
                                            3: ("contentEncoding", _BYTES), 4: ("contentType", _BYTES)})
    meta = _sub(f.get("typeMeta", b""), "TypeMeta", {1: ("apiVersion", _BYTES), 2: ("kind", _BYTES)})
    return Envelope(_text(meta.get("apiVersion", b"")), _text(meta.get("kind", b"")), f.get("raw", b""),
                    _text(f.get("contentEncoding", b"")), _text(f.get("contentType", b"")))


def message_for(api_version: str, kind: str) -> str | None:
    """The table name for a top-level kind, or None when the sim has no protobuf layout for it."""
    return KINDS.get((api_version, kind))


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """A whole `application/vnd.kubernetes.protobuf` body as the JSON object it stands for.

    The result carries `apiVersion` and `kind` from the envelope, then the object's fields, so the
    handlers can treat it exactly like a decoded JSON body.
    """
    env = read_envelope(body)
    if env.content_encoding:
        raise ProtobufError(f"unsupported content encoding {env.content_encoding!r} in the protobuf envelope")
    if env.content_type and env.content_type != MEDIA_TYPE:
        raise ProtobufError(f"unsupported content type {env.content_type!r} in the protobuf envelope")
    if not env.kind:
        raise ProtobufError("Object 'Kind' is missing from the protobuf envelope")
    message = message_for(env.api_version, env.kind)
    if message is None:
        raise ProtobufError(f'no kind "{env.kind}" is registered for version "{env.api_version}" '
                            "in the protobuf decoder")
    return {"apiVersion": env.api_version, "kind": env.kind, **decode_message(message, env.raw)}

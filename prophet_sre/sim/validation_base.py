"""Building blocks of API validation: `FieldError`, Go-style value rendering and the name rules.

kube-apiserver reports every validation failure as a `field.Error` and renders its bad value with `%q`
for strings, `%v` for numbers and, since 1.34 (kubernetes PR #132314), JSON for maps, lists and
structs. kubectl prints those texts verbatim and people (and Prophet's agents) grep them, so this module
reproduces the texts and the renderings word for word: the regex messages come from
k8s.io/apimachinery/pkg/util/validation, including their double spaces.

Everything here is pure and total: the helpers that read an object (`as_map`, `as_list`, `as_str`, ...)
never raise on wrong types. Wrong types are reported once, by the structural check in
`validation_types`, so the semantic validators can simply treat them as absent.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# --- error types ----------------------------------------------------------------------------------
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"
TYPE_INVALID = "FieldValueTypeInvalid"
INTERNAL = "InternalError"

_TYPE_TEXT = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    NOT_FOUND: "Not found",
    TYPE_INVALID: "Invalid value",
    INTERNAL: "Internal error",
}
# Types whose rendering never shows the bad value (field.Error.ErrorBody).
_VALUELESS = frozenset({REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL})

FIELD_IMMUTABLE = "field is immutable"


@dataclass(frozen=True, slots=True)
class GoLiteral:
    """A value whose rendering is already known (the JSON of an internal Go struct, with Go field names,
    say): printed verbatim."""

    text: str


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation failure, as k8s.io/apimachinery/pkg/util/validation/field.Error."""

    type: str
    field: str
    detail: str = ""
    value: Any = None

    def message(self) -> str:
        """The cause text (`ErrorBody`): 'Required value', 'Invalid value: "x": detail', ..."""
        text = _TYPE_TEXT.get(self.type, self.type)
        if self.type not in _VALUELESS:
            text = f"{text}: {go_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def error(self) -> str:
        """`field: message`, the form aggregated into a Status message."""
        return f"{self.field}: {self.message()}"

    def __str__(self) -> str:
        return self.error()


# --- constructors, mirroring field.Required / field.Invalid / ... ---------------------------------------
def required(path: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, path, detail)


def invalid(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(INVALID, path, detail, value)


def not_supported(path: str, value: Any, supported: list[str] | tuple[str, ...]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(str(s)) for s in supported) if supported else ""
    return FieldError(NOT_SUPPORTED, path, detail, value)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, path, "", value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, path, detail)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, path, "", value)


def too_long(path: str, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(TOO_LONG, path, f"may not be more than {max_length} {unit}")


def immutable(path: str, value: Any) -> FieldError:
    return invalid(path, value, FIELD_IMMUTABLE)


# --- Go rendering ---------------------------------------------------------------------------------
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """strconv.Quote: what `%q` prints."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x80 or (ch.isprintable() and not 0xD800 <= o <= 0xDFFF):
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _go_number(v: int | float) -> str:
    """strconv's shortest float form, as fmt `%v` and encoding/json print it."""
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "NaN" if v != v else ("+Inf" if v > 0 else "-Inf")
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        text = repr(v)
        if "e" in text:
            mant, _, exp = text.partition("e")
            sign = "-" if exp.startswith("-") else "+"
            text = f"{mant}e{sign}{exp.lstrip('+-').rjust(2, '0')}"
        return text
    return str(v)


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(v: Any) -> str:
    """encoding/json.Marshal: compact, HTML-escaped; dicts keep their order (Go structs keep field order,
    maps sort their keys: pass `sorted_map(...)` for a map)."""
    if isinstance(v, GoLiteral):
        return v.text
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _go_number(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, dict):
        return "{" + ",".join(f"{_json_string(str(k))}:{go_json(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    return _json_string(str(v))


def go_value(v: Any) -> str:
    """How field.Error renders a bad value (apimachinery 1.34+): `%q` for strings, `%v` for numbers
    and bools, JSON for everything else (maps, lists, structs)."""
    if isinstance(v, GoLiteral):
        return v.text
    if v is None:
        return "null"
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _go_number(v)
    return go_json(v)


def sorted_map(m: Any) -> dict | None:
    """A Go map as encoding/json writes it: keys sorted; None (JSON null) when unset."""
    if not isinstance(m, dict):
        return None
    return {str(k): m[k] for k in sorted(m, key=str)}


def label_selector_value(sel: Any) -> Any:
    """A metav1.LabelSelector as JSON renders it: matchLabels then matchExpressions, empty ones omitted."""
    if not isinstance(sel, dict):
        return None
    out: dict[str, Any] = {}
    ml = sel.get("matchLabels")
    if isinstance(ml, dict) and ml:
        out["matchLabels"] = sorted_map(ml)
    exprs = []
    for e in as_list(sel.get("matchExpressions")):
        e = as_map(e)
        item: dict[str, Any] = {"key": as_str(e.get("key")), "operator": as_str(e.get("operator"))}
        if as_list(e.get("values")):
            item["values"] = e["values"]
        exprs.append(item)
    if exprs:
        out["matchExpressions"] = exprs
    return out


# --- total accessors --------------------------------------------------------------------------------
def as_map(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else []


def as_str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def as_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def as_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --- name rules (k8s.io/apimachinery/pkg/util/validation) ------------------------------------------------
def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, double spaces and all."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i > 0:
            text += " or "
        text += f"'{ex}', "
    return text + f"regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


EMPTY_ERROR = "must be non-empty"

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                     "and must start and end with an alphanumeric character")
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                         "'-' or '.', and must start and end with an alphanumeric character")
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                     "alphabetic character, and end with an alphanumeric character")
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                      "alphanumeric character")
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character")
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
PERCENT_FMT = "[0-9]+%"
PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"

_DNS1123_LABEL_RE = re.compile(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT)
_CONFIG_KEY_RE = re.compile(CONFIG_KEY_FMT)
_PERCENT_RE = re.compile(PERCENT_FMT)
_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_PORT_NAME_ONE_LETTER_RE = re.compile("[a-z]")


def _full(rx: re.Pattern[str], s: str) -> bool:
    """Go's `^...$` MatchString: the whole string (Python's `$` would also accept a trailing newline)."""
    return rx.fullmatch(s) is not None


def is_dns1123_label(v: str) -> list[str]:
    errs = []
    if len(v) > 63:
        errs.append(max_len_error(63))
    if not _full(_DNS1123_LABEL_RE, v):
        errs.append(regex_error(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(v: str) -> list[str]:
    errs = []
    if len(v) > 253:
        errs.append(max_len_error(253))
    if not _full(_DNS1123_SUBDOMAIN_RE, v):
        errs.append(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(v: str) -> list[str]:
    errs = []
    if len(v) > 63:
        errs.append(max_len_error(63))
    if not _full(_DNS1035_LABEL_RE, v):
        errs.append(regex_error(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(v: str) -> list[str]:
    errs: list[str] = []
    parts = v.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + EMPTY_ERROR)
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part " + EMPTY_ERROR)
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _full(_QUALIFIED_NAME_RE, name):
        errs.append("name part " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(v: str) -> list[str]:
    errs = []
    if len(v) > 63:
        errs.append(max_len_error(63))
    if not _full(_LABEL_VALUE_RE, v):
        errs.append(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_config_map_key(v: str) -> list[str]:
    errs = []
    if len(v) > 253:
        errs.append(max_len_error(253))
    if not _full(_CONFIG_KEY_RE, v):
        errs.append(regex_error(CONFIG_KEY_MSG, CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if v == ".":
        errs.append("must not be '.'")
    elif v == "..":
        errs.append("must not be '..'")
    elif v.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_valid_port_num(p: int) -> list[str]:
    return [] if 1 <= p <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(p: str) -> list[str]:
    errs = []
    if len(p) > 15:
        errs.append(max_len_error(15))
    if not _full(_PORT_NAME_CHARSET_RE, p):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_ONE_LETTER_RE.search(p):
        errs.append("must contain at least one letter (a-z)")
    if "--" in p:
        errs.append("must not contain consecutive hyphens")
    if p and (p[0] == "-" or p[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_percent(p: str) -> list[str]:
    return [] if _full(_PERCENT_RE, p) else [regex_error(PERCENT_MSG, PERCENT_FMT, "1%", "93%")]


def is_valid_path_segment_name(name: str) -> list[str]:
    """path.IsValidPathSegmentName: what RBAC names and scale-target kinds must satisfy."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


NameFn = Callable[[str, bool], list[str]]


def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    if prefix:
        return [f"may not contain '{c}'" for c in ("/", "%") if c in name]
    return is_valid_path_segment_name(name)


# --- common field validators --------------------------------------------------------------------------
def validate_dns1123_label(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_label(value)]


def validate_dns1123_subdomain(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_subdomain(value)]


def validate_nonnegative(value: Any, path: str) -> list[FieldError]:
    n = as_int(value)
    if n is not None and n < 0:
        return [invalid(path, n, "must be greater than or equal to 0")]
    return []


def validate_port_num_or_name(value: Any, path: str) -> list[FieldError]:
    """ValidatePortNumOrName for an IntOrString port."""
    if isinstance(value, str):
        return [invalid(path, value, m) for m in is_valid_port_name(value)]
    n = as_int(value)
    if n is not None:
        return [invalid(path, n, m) for m in is_valid_port_num(n)]
    return []


def _go_field_names(v: Any) -> Any:
    """Approximate the internal Go types' JSON (field names are Go names: `accessModes` -> `AccessModes`)."""
    if isinstance(v, dict):
        return {(k[:1].upper() + k[1:]) if isinstance(k, str) else k: _go_field_names(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_go_field_names(x) for x in v]
    return v


def _indented_json(v: Any) -> list[str]:
    return json.dumps(v, indent=1, ensure_ascii=False, default=str).splitlines()


def spec_diff(old: Any, new: Any) -> str:
    """The unified JSON diff a real server appends to 'spec is immutable' errors (Go field names,
    one-space indent, three lines of context, no file headers)."""
    lines = difflib.unified_diff(_indented_json(_go_field_names(old)), _indented_json(_go_field_names(new)),
                                 lineterm="", n=3)
    body = [ln for ln in lines if not ln.startswith(("---", "+++"))]
    return "\n".join(body) + ("\n" if body else "")

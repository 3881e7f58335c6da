"""Kubernetes resource quantities (`500m`, `1Gi`, `1e3`): parsing, comparison and canonical form.

A real kube-apiserver parses every quantity on decode and writes it back in canonical form, so a pod
created with `cpu: 1000m` or `memory: 1024Mi` reads back as `cpu: "1"` and `memory: 1Gi`, and a YAML
number (`cpu: 1`) reads back as the string `"1"` (which the strict Python client models require). This
module follows k8s.io/apimachinery/pkg/api/resource: the same grammar, the same error texts, rounding
up to the nano scale, and the same canonicalisation rules (BinarySI falls back to DecimalSI below 1024
or for fractions; decimal exponents are kept to multiples of three).
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

SPLIT_RE_STRING = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{SPLIT_RE_STRING}'"
ERR_NUMERIC = "unable to parse quantity's numeric part"
ERR_SUFFIX = "unable to parse quantity's suffix"

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DEC_BY_EXP = {e: s for s, e in _DEC_SUFFIXES.items()}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BIN_BY_POWER = {1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_MAX_EXPONENT = 400  # far beyond any real quantity; keeps junk like "1e99999999" cheap
_NANO = Decimal("1e-9")
_MAX_INT64 = Decimal(2**63 - 1)


def _ctx() -> decimal.Context:
    return decimal.Context(prec=2000, rounding=decimal.ROUND_HALF_EVEN, Emax=999999, Emin=-999999)


def _split(s: str) -> tuple[str, str, str, str]:
    """parseQuantityString: (value, num, denom, suffix) or ValueError(ERR_FORMAT_WRONG)."""
    pos, end = 0, len(s)
    if pos < end and s[0] in "+-":
        pos += 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return "0", "0", "", ""
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    denom = ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
    value = s[:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos != end:
        raise ValueError(ERR_FORMAT_WRONG)
    return value, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, or ValueError(ERR_SUFFIX)."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        digits = rest[1:] if rest[0] in "+-" else rest
        if digits and all(c in _DIGITS for c in digits):
            exp = int(rest)
            if abs(exp) <= _MAX_EXPONENT:
                return 10, exp, DECIMAL_EXPONENT
    raise ValueError(ERR_SUFFIX)


def parse_quantity_with_format(q: Any) -> tuple[Decimal, str]:
    """Parse a quantity (string, or a JSON number as YAML gives it) into (value, format).

    Raises ValueError with the apimachinery error text when the input is not a quantity.
    """
    if isinstance(q, bool) or not isinstance(q, str | int | float):
        raise ValueError(ERR_FORMAT_WRONG)
    if isinstance(q, float):
        if q != q or q in (float("inf"), float("-inf")):
            raise ValueError(ERR_FORMAT_WRONG)
        s = repr(q)
    else:
        s = str(q).strip()
    if not s:
        raise ValueError(ERR_FORMAT_WRONG)
    value, num, denom, suffix = _split(s)
    base, exponent, fmt = _interpret(suffix)
    ctx = _ctx()
    # apimachinery builds the number from its digits, so "Gi", "." and "-" all read as zero
    amount = ctx.create_decimal(f"{'-' if value.startswith('-') else ''}{num}.{denom or '0'}")
    amount = ctx.multiply(amount, ctx.power(Decimal(base), exponent))
    negative = amount < 0
    amount = abs(amount)
    if amount != 0 and amount.as_tuple().exponent < -9:  # type: ignore[operator]
        amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=ctx)
    if fmt == BINARY_SI:
        amount = min(amount, _MAX_INT64)
        if 0 < amount < 1:
            fmt = DECIMAL_SI
    return (-amount if negative else amount), fmt


def parse_quantity(q: Any) -> Decimal:
    """The exact value of a quantity: parse_quantity("500m") == Decimal("0.5"), "1Gi" == 1073741824."""
    return parse_quantity_with_format(q)[0]


def is_quantity(q: Any) -> bool:
    try:
        parse_quantity_with_format(q)
    except ValueError:
        return False
    return True


def _strip_tens(mantissa: int, exponent: int) -> tuple[int, int]:
    if mantissa == 0:
        return 0, 0
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    return mantissa, exponent


def format_quantity(value: Decimal, fmt: str = DECIMAL_SI) -> str:
    """Quantity.String(): the canonical text the API server writes back."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if fmt == BINARY_SI:
        if value < 1024 or value != value.to_integral_value():
            fmt = DECIMAL_SI
        else:
            amount, power = int(value), 0
            while power < 6 and amount % 1024 == 0:
                amount //= 1024
                power += 1
            return f"{sign}{amount}{_BIN_BY_POWER.get(power, '')}"
    t = value.as_tuple()
    mantissa = int("".join(map(str, t.digits)))
    exponent = int(t.exponent)  # finite: parse_quantity never yields NaN/inf
    mantissa, exponent = _strip_tens(mantissa, exponent)
    if exponent % 3 == 1:
        mantissa, exponent = mantissa * 10, exponent - 1
    elif exponent % 3 == 2:
        mantissa, exponent = mantissa * 100, exponent - 2
    if fmt == DECIMAL_EXPONENT:
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    if exponent > 18:
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    return f"{sign}{mantissa}{_DEC_BY_EXP.get(exponent, '')}"


def canonical_quantity(q: Any) -> str:
    """Round-trip a quantity through parse and format, as storing it in a real API server does."""
    value, fmt = parse_quantity_with_format(q)
    return format_quantity(value, fmt)


__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
    "canonical_quantity",
    "format_quantity",
    "is_quantity",
    "parse_quantity",
    "parse_quantity_with_format",
]

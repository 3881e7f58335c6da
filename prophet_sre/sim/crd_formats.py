"""String `format`s a CRD schema may name, checked as kube-openapi's format registry checks them.

Only the cheap, unambiguous ones are here (date-time, date, uuid, ipv4, ipv6, cidr, byte, mac); a format
not listed is accepted as any string, as the task of a structural schema is not to guess. Used by
`crd_validation`, whose errors name the format: `x in body must be of type date-time: "yesterday"`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import uuid
from datetime import date, datetime

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")


def _is_datetime(v: str) -> bool:
    if not _RFC3339.match(v):
        return False
    try:
        datetime.fromisoformat(v.replace("z", "Z").replace("t", "T").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_date(v: str) -> bool:
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return len(v) == 10


def _is_uuid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return len(v) == 36


def _is_ip(v: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(v).version == version
    except ValueError:
        return False


def _is_cidr(v: str) -> bool:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return False
    return "/" in v


def _is_byte(v: str) -> bool:
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


FORMATS = {
    "date-time": _is_datetime, "datetime": _is_datetime, "date": _is_date, "uuid": _is_uuid,
    "ipv4": lambda v: _is_ip(v, 4), "ipv6": lambda v: _is_ip(v, 6), "cidr": _is_cidr, "byte": _is_byte,
    "mac": lambda v: _MAC.match(v) is not None,
}
"""The formats checked (cheap ones of kube-openapi's registry); any other format is accepted."""

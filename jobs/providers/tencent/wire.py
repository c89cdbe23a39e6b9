"""CI's XML on the wire (§2.2, §10, §12 of docs/vendors/tencent-ci.md): untrusted bodies are
parsed only through defusedxml, then turned into plain dicts with a depth bound."""

from __future__ import annotations

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from jobs.providers import fields
from jobs.providers.base import ResponseError

_MAX_DEPTH = 32


def local(tag: str) -> str:
    # Drop a namespace, as the SDK does. CI sends none: skip the split then (every element).
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag


def parse_xml(content: bytes, operation: str = "", request_id: str = ""):
    """Parse an untrusted body with defusedxml (no DTDs, entities or external references)."""
    try:
        return SafeET.fromstring(content)
    except DefusedXmlException as exc:
        raise ResponseError(
            f"{operation}: XML with a forbidden construct ({type(exc).__name__})", request_id=request_id
        ) from None
    except SafeET.ParseError as exc:
        raise ResponseError(f"{operation}: malformed XML ({exc})", request_id=request_id) from None


def element_to_dict(element, depth: int = 0):
    """Children become keys (repeated children a list); a leaf becomes its stripped text."""
    if depth > _MAX_DEPTH:
        raise fields.FieldError("XML nested too deeply")
    if not len(element):
        return (element.text or "").strip()
    out: dict = {}
    for child in element:
        name = local(child.tag)
        # A leaf inline (most elements are; the depth bound still applies): saves a call per
        # field of every listed job.
        if len(child) or depth >= _MAX_DEPTH:
            value = element_to_dict(child, depth + 1)
        else:
            value = (child.text or "").strip()
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return out


def element_to_dict_checked(element) -> dict:
    try:
        data = element_to_dict(element)
    except fields.FieldError as exc:
        raise ResponseError(f"JobsDetail: {exc}") from None
    if not isinstance(data, dict):
        raise ResponseError("JobsDetail: empty element")
    return data

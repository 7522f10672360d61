"""A certificate's subject as the x509 auth scheme names it.

Java: ``javax.security.auth.x500.X500Principal`` — ``getName()`` (RFC 2253
form) is the id ``X509AuthenticationProvider`` gives a client, and its
constructor decides which ids an ``x509:`` ACL may name. Pure: a small DER
reader for the one field it needs, so no third-party package is involved.

``getName()``: the RDNs in reverse order of the certificate's encoding,
joined by ``,`` (the AVAs of a multi-valued RDN by ``+``), each ``KEY=value``
with the keywords RFC 2253 defines (CN, C, L, ST, O, OU, STREET, DC, UID);
any other attribute as its dotted OID and ``#`` + the hex of its DER value
(``emailAddress`` becomes ``1.2.840.113549.1.9.1=#16...``), and Java's
backslash escapes in values (checked against Java 17's X500Principal).
"""

from __future__ import annotations

import logging
import re

LOG = logging.getLogger(__name__)

__all__ = ["subject_rfc2253", "is_valid_name", "X509NameError"]

#: The attribute types getName(RFC2253) prints by keyword.
_RFC2253_KEYWORDS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
#: Keywords the X500Principal(String) constructor accepts (RFC 1779/2253 and Java's extras).
_KNOWN_KEYWORDS = frozenset({
    "CN", "C", "L", "S", "ST", "O", "OU", "T", "IP", "STREET", "DC", "DNQUALIFIER", "DNQ", "SURNAME",
    "GIVENNAME", "INITIALS", "GENERATION", "EMAIL", "EMAILADDRESS", "UID", "SERIALNUMBER",
})
#: DER string types whose value prints as text.
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be",
                0x1C: "utf-32-be"}


class X509NameError(ValueError):
    """A certificate whose subject cannot be read."""


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise X509NameError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise X509NameError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise X509NameError("truncated DER")
    return tag, pos, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, value start, value end, element start) of each element in a constructed value."""
    out = []
    pos = start
    while pos < end:
        tag, vstart, vend = _read_tlv(data, pos)
        out.append((tag, vstart, vend, pos))
        pos = vend
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        raise X509NameError("empty OID")
    first = raw[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _escape(value: str) -> str:
    """Backslash escapes as X500Principal.getName() writes them: every one of
    ``,=+<>#;"\\`` and each leading and trailing space (RFC 2253 section 2.4
    asks for fewer; Java escapes these)."""
    lead = len(value) - len(value.lstrip(" "))
    trail = len(value) - len(value.rstrip(" "))
    out = []
    for i, c in enumerate(value):
        if c in ',=+<>#;"\\' or (c == " " and (i < lead or i >= len(value) - trail)):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def subject_rfc2253(der_cert: bytes) -> str:
    """The subject of a DER certificate in RFC 2253 form (X500Principal.getName())."""
    _, cert_start, cert_end = _read_tlv(der_cert, 0)
    tbs = _children(der_cert, cert_start, cert_end)
    if not tbs:
        raise X509NameError("no tbsCertificate")
    fields = _children(der_cert, tbs[0][1], tbs[0][2])
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    if len(fields) < 5 or fields[4][0] != 0x30:
        raise X509NameError("no subject in the certificate")
    _, name_start, name_end, _ = fields[4]
    rdns = []
    for set_tag, set_start, set_end, _ in _children(der_cert, name_start, name_end):
        if set_tag != 0x31:
            raise X509NameError("an RDN is not a SET")
        avas = []
        for _, ava_start, ava_end, _ in _children(der_cert, set_start, set_end):
            parts = _children(der_cert, ava_start, ava_end)
            if len(parts) != 2 or parts[0][0] != 0x06:
                raise X509NameError("bad AttributeTypeAndValue")
            oid = _oid(der_cert[parts[0][1]:parts[0][2]])
            value_tag, value_start, value_end, element_start = parts[1]
            keyword = _RFC2253_KEYWORDS.get(oid)
            encoding = _STRING_TAGS.get(value_tag)
            if keyword is not None and encoding is not None:
                text = der_cert[value_start:value_end].decode(encoding, "replace")
                avas.append(f"{keyword}={_escape(text)}")
            else:
                avas.append(f"{oid}=#{der_cert[element_start:value_end].hex()}")
        rdns.append("+".join(avas))
    return ",".join(reversed(rdns))


def is_valid_name(name: str) -> bool:
    """Would ``new X500Principal(name)`` accept it? (X509AuthenticationProvider.isValid)"""
    if name.strip() == "":
        return True
    for part in _split_unescaped(name):
        key, sep, _ = part.partition("=")
        key = key.strip()
        if not sep or not key:
            return False
        if key.upper().startswith("OID."):
            key = key[4:]
        if re.fullmatch(r"[0-9]+(\.[0-9]+)+", key):
            continue
        if key.upper() not in _KNOWN_KEYWORDS:
            return False
    return True


def _split_unescaped(name: str) -> list[str]:
    """Split at ``,`` ``;`` ``+`` outside quotes and not escaped."""
    parts, current, quoted, escaped = [], [], False, False
    for c in name:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            current.append(c)
            escaped = True
        elif c == '"':
            quoted = not quoted
            current.append(c)
        elif c in ",;+" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    if quoted or escaped:
        return [""]  # unterminated: invalid
    parts.append("".join(current))
    return parts

"""Encoding AWS event-stream messages (``application/vnd.amazon.eventstream``), which botocore decodes.

Format (AWS documentation, "Event stream encoding"; decoded by ``botocore.eventstream``): a 12-byte prelude
(total length, headers length, CRC32 of those 8 bytes, all big-endian), the headers (name length as 1 byte,
name, value type 7 = string, value length as 2 bytes, value), the payload, and the CRC32 of all that precedes.
An event carries ``:message-type: event`` and ``:event-type``; an error carries ``:message-type: exception``
and ``:exception-type`` (the event stream's exception member, e.g. ``throttlingException``).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

STRING = 7


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(encoded_name))
        + encoded_name
        + struct.pack(">BH", STRING, len(encoded_value))
        + encoded_value
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, body: dict[str, Any]) -> bytes:
    """An event message with a JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(body).encode())


def exception(exception_type: str, message: str) -> bytes:
    """An exception message: the stream's error member ``exception_type`` with its ``message``."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())

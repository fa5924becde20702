"""Tell a source's format from its first bytes, whatever its file name.

- "telegram_json": a JSON object whose first keys include a Telegram export's. A
  whole-account export lists personal data before "chats", so its header keys count.
- "web_html": markup with an <html>/<!DOCTYPE html> tag or a t.me post block.
- "text": anything else that is UTF-8 without NUL bytes, empty files included, so
  that `read_source` gives its own reason (empty, white space only) for rejecting it.
- None: binary, UTF-16, invalid UTF-8, or a JSON object that is not a Telegram export.
"""
from __future__ import annotations

import codecs
import re

HEAD_BYTES = 8192  # how much of a file callers should pass
BOM = codecs.BOM_UTF8
JSON_OBJECT = re.compile(rb'^\{\s*"')
EXPORT_KEYS = (b'"messages"', b'"chats"', b'"left_chats"', b'"personal_information"')
HTML_MARKERS = (b"<!doctype html", b"<html", b"tgme_widget_message")


def detect_format(head: bytes) -> str | None:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
        return None
    try:  # a head cut inside a multi-byte character is still UTF-8
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    start = head.removeprefix(BOM).lstrip()
    if JSON_OBJECT.match(start):
        return "telegram_json" if any(key in start for key in EXPORT_KEYS) else None
    if start.startswith(b"<") and any(marker in start.lower() for marker in HTML_MARKERS):
        return "web_html"
    return "text"

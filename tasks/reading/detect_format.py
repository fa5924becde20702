"""Tell a source's format from its first bytes, whatever its file name.

- "telegram_json": a JSON object whose first keys include a Telegram export's. A
  whole-account export lists personal data before "chats", so its header keys count.
- "desktop_html": a page of a Telegram Desktop HTML export (messages.html, ...): the
  writer's fixed skeleton, `<div class="page_wrap">` then `<div class="page_header">`.
- "web_html": other markup with an <html>/<!DOCTYPE html> tag or a t.me post block.
- "text": anything else, binary and other encodings included, so that `read_source`
  gives its own reason (empty, binary, UTF-16, not UTF-8) or keeps a UTF-8 dump with a
  few invalid bytes.
- None: a JSON object that is not a Telegram export.
"""
from __future__ import annotations

import codecs
import re

HEAD_BYTES = 8192  # how much of a file callers should pass
BOM = codecs.BOM_UTF8
JSON_OBJECT = re.compile(rb'^\{\s*"')
EXPORT_KEYS = (b'"messages"', b'"chats"', b'"left_chats"', b'"personal_information"')
HTML_MARKERS = (b"<!doctype html", b"<html", b"tgme_widget_message")
DESKTOP_EXPORT_MARKERS = (b'<div class="page_wrap">', b'<div class="page_header">')


def detect_format(head: bytes) -> str | None:
    start = head.removeprefix(BOM).lstrip()
    if JSON_OBJECT.match(start):
        return "telegram_json" if any(key in start for key in EXPORT_KEYS) else None
    if start.startswith(b"<") and any(marker in start.lower() for marker in HTML_MARKERS):
        if all(marker in start for marker in DESKTOP_EXPORT_MARKERS):
            return "desktop_html"
        return "web_html"
    return "text"

"""Desktop JSON exports written by the tests: one channel, messages given by the test."""
import json
from pathlib import Path


def message(number: int, **fields) -> dict:
    return {"id": number, "type": "message", "date": "2025-06-05T12:30:00", "date_unixtime": "1749126600",
            "text": f"Post number {number} of the channel", **fields}


def export(tmp_path: Path, messages: list, **chat) -> Path:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "Channel", "type": "public_channel", "id": 77, **chat,
                                "messages": messages}, ensure_ascii=False))
    return path

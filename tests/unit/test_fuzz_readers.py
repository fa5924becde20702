"""Property-based fuzzing of the three structured readers: one value of a small valid
file replaced by anything (every JSON type; odd strings in HTML attributes and text;
elements dropped or duplicated). Whatever it is: nothing but NotADump escapes, the
columns keep their types, every message is accounted for, and the messages not touched
are read as before."""
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from tasks.reading.read_desktop_export import read_desktop_export
from tasks.reading.read_source import NotADump
from schemas.tables import READ_COLUMNS
from tasks.reading.read_telegram_export import MESSAGE_KEYS, read_telegram_export
from tasks.reading.read_web_page import read_web_page

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXPORT = json.loads((FIXTURES / "formats" / "result.json").read_text(encoding="utf-8"))
DESKTOP = (FIXTURES / "desktop_export" / "messages.html").read_text(encoding="utf-8")
WEB = (FIXTURES / "formats" / "mid_russia_page.html").read_text(encoding="utf-8")
# max_examples: two thirds of the profile's (tests/conftest.py): 100 in make test
FUZZ = settings(derandomize=True, database=None, max_examples=2 * settings.default.max_examples // 3, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ODD_STRINGS = st.sampled_from([
    "", " ", "\u0000", "\ufeff", "𝔘𝔫𝔦", "\u202e", "1e20", "-1", "99999999999999999999", "1.2.3K", "12345678901234M",
    "channel", "channel99999999999999999999", "message", "message-5", "go_to_message99999999999999999999",
    "2025-13-45T99:99:99", "05.06.2025 12:30:00 UTC+99:99", "<div>", "&amp;", "a" * 300,
]) | st.text(max_size=12)
EDGE_NUMBERS = st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, 10**20, 1e20, -1e20, 0.5])
SCALARS = (st.none() | st.booleans() | EDGE_NUMBERS | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | ODD_STRINGS)
JSON_VALUES = st.one_of(SCALARS, SCALARS, st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6))
# One of each JSON type, with the edges of the integers a column holds.
EVERY_TYPE = [None, True, False, 0, -1, 2**63 - 1, 2**63, 10**20, 1e20, 1.5, "", "x", "99999999999999999999",
              [], [1, "a"], {}, {"text": 1}]


def read_or_reject(reader, path: Path):
    """The reader's result, or None when it rejects the whole file (NotADump: allowed)."""
    try:
        return reader(path, path.name)
    except NotADump:
        return None


def check_output(posts: pl.DataFrame, counts: dict) -> None:
    assert posts.schema == pl.Schema(READ_COLUMNS)
    # A Desktop page's count of messages leaves its service messages out; the others' do not.
    service_counted = "chats" in counts or "edited" in counts
    accounted = counts["posts"] + counts["empty"] + len(counts["rejected"])
    assert accounted + counts["service"] * service_counted == counts["messages"]
    assert posts["position"].is_unique().all()
    for rejected in counts["rejected"]:
        assert set(rejected) == {"position", "message_id", "reason"} and rejected["reason"]


def unchanged(posts: pl.DataFrame, baseline: pl.DataFrame, touched: set) -> None:
    """The messages whose ids are not in `touched` are read as in the untouched file."""
    kept = [i for i in baseline["message_id"].to_list() if i not in touched]

    def rows(frame: pl.DataFrame) -> list:
        return frame.filter(pl.col("message_id").is_in(kept)).drop("position").sort("message_id").rows()
    assert rows(posts) == rows(baseline)


@settings(FUZZ, max_examples=2 * FUZZ.max_examples)
@given(data=st.data())
def test_export_fields_replaced_by_any_json(tmp_path_factory, data):
    messages = EXPORT["messages"]
    where = data.draw(st.sampled_from(["message", "chat"]))
    document = json.loads(json.dumps(EXPORT))
    value = data.draw(JSON_VALUES)
    if where == "chat":
        document[data.draw(st.sampled_from(["name", "type", "id"]))] = value
        touched = None
    else:
        index = data.draw(st.integers(0, len(messages) - 1))
        # the fields the reader uses, and one it does not
        field = data.draw(st.sampled_from(sorted(MESSAGE_KEYS | {"from_id"})))
        document["messages"][index][field] = value
        touched = {messages[index]["id"]}
    result = export_result(document, tmp_path_factory.mktemp("fuzz"))
    if result is None:
        assert where == "chat"  # one message cannot reject its file
        return
    check_output(*result)
    baseline, _ = read_telegram_export(FIXTURES / "formats" / "result.json", "result.json")
    if touched is not None:
        unchanged(result[0], baseline, touched)


def export_result(document: dict, directory: Path):
    path = directory / "result.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return read_or_reject(read_telegram_export, path)


@pytest.mark.slow  # 23 fields x 17 values x 2 messages: 782 reads, 15 s in all
@pytest.mark.parametrize("field", sorted(MESSAGE_KEYS | {"from_id"}))
def test_every_message_field_as_every_json_type(tmp_path, field):
    baseline, _ = read_telegram_export(FIXTURES / "formats" / "result.json", "result.json")
    for value in EVERY_TYPE:
        for index in (1, 2):  # a message with a string text, one with entities
            document = json.loads(json.dumps(EXPORT))
            document["messages"][index][field] = value
            result = export_result(document, tmp_path)
            assert result is not None, (field, value)
            check_output(*result)
            unchanged(result[0], baseline, {EXPORT["messages"][index]["id"]})


@pytest.mark.parametrize("field", ["name", "type", "id"])
def test_every_chat_field_as_every_json_type(tmp_path, field):
    for value in EVERY_TYPE:
        document = json.loads(json.dumps(EXPORT))
        document[field] = value
        result = export_result(document, tmp_path)
        if result is not None:
            check_output(*result)


def mutated_page(data, html: str, blocks: str) -> tuple[str, set]:
    """The page with one element of one message block changed: an attribute or its text
    set to an odd string, the element dropped or duplicated. Returns the page and the
    message ids whose rows may change (the block's, and the next one: a joined forward
    takes its sender from the message before)."""
    tree = LexborHTMLParser(html)
    found = tree.css(blocks)
    index = data.draw(st.integers(0, len(found) - 1))
    block = found[index]
    ids = [node.attributes.get("id") or node.attributes.get("data-post") for node in found]
    nodes = [block, *block.css("*")]
    node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
    action = data.draw(st.sampled_from(["attribute", "text", "drop", "duplicate"]))
    odd = data.draw(ODD_STRINGS)
    if action == "attribute":
        name = data.draw(st.sampled_from(sorted(set(node.attributes) | {"id", "class", "href", "title", "datetime"})))
        node.attrs[name] = odd
    elif action == "text":
        node.insert_child(odd)
    elif action == "drop":
        node.decompose()
    else:
        node.insert_after(LexborHTMLParser(node.html).body.child or odd)
    touched = {ids[i] for i in (index, index + 1) if i < len(ids)}
    return tree.html, {_number(i) for i in touched}


ODD_VALUES = ["", "x", "-1", "99999999999999999999", "1.2.3K", "12345678901234M", "message", "message-5",
              "go_to_message99999999999999999999", "#go_to_message0", "mid_russia/", "/99999999999999999999",
              "2025-13-45T99:99:99", "05.06.2025 12:30:00 UTC+99:99", "𝔘\u202e\u0000"]
DESKTOP_BLOCKS, WEB_BLOCKS = "div.history > div.message.default", ".tgme_widget_message[data-post]"
# What the readers read: (format, element, attribute; None: its text).
READ_VALUES = [
    ("desktop", DESKTOP_BLOCKS, "id"), ("desktop", "div.reply_to a", "href"), ("desktop", "span.count", None),
    ("desktop", "div.pull_right.date.details", "title"), ("desktop", f"{DESKTOP_BLOCKS} div.text", None),
    ("web", WEB_BLOCKS, "data-post"), ("web", ".tgme_widget_message_views", None), ("web", ".tgme_reaction", None),
    ("web", "time[datetime]", "datetime"), ("web", ".tgme_widget_message_text", None),
]


@pytest.mark.parametrize("page, selector, attribute", READ_VALUES)
def test_every_read_html_value_as_odd_strings(tmp_path, page, selector, attribute):
    reader, html, blocks = {"desktop": (read_desktop_export, DESKTOP, DESKTOP_BLOCKS),
                            "web": (read_web_page, WEB, WEB_BLOCKS)}[page]
    original = tmp_path / "original.html"
    original.write_text(html, encoding="utf-8")
    baseline = reader(original, "page.html")[0]
    for odd in ODD_VALUES:
        tree = LexborHTMLParser(html)
        node = tree.css_first(selector)
        ids = [block.attributes.get("id") or block.attributes.get("data-post") for block in tree.css(blocks)]
        block = node
        while (block.attributes.get("id") or block.attributes.get("data-post")) not in ids:
            block = block.parent
        index = ids.index(block.attributes.get("id") or block.attributes.get("data-post"))
        if attribute is None:
            for child in list(node.iter(include_text=True)):
                child.decompose()
            node.insert_child(odd)
        else:
            node.attrs[attribute] = odd
        path = tmp_path / "page.html"
        path.write_text(tree.html, encoding="utf-8")
        result = read_or_reject(reader, path)
        assert result is not None, odd
        check_output(*result)
        unchanged(result[0], baseline, {_number(i) for i in ids[index:index + 2]})


def _number(attribute: str | None) -> int | None:
    digits = (attribute or "").rpartition("/")[2].removeprefix("message")
    return int(digits) if digits.isdigit() else None


def html_case(tmp_path_factory, data, reader, html: str, blocks: str, name: str) -> None:
    page, touched = mutated_page(data, html, blocks)
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_text(page, encoding="utf-8")
    result = read_or_reject(reader, path)
    assert result is not None, "one message cannot reject its page"
    check_output(*result)
    original = path.with_name("original.html")
    original.write_text(html, encoding="utf-8")
    unchanged(result[0], reader(original, name)[0], touched)


@FUZZ
@given(data=st.data())
def test_desktop_export_elements_changed(tmp_path_factory, data):
    html_case(tmp_path_factory, data, read_desktop_export, DESKTOP, "div.history > div.message.default",
              "messages.html")


@FUZZ
@given(data=st.data())
def test_web_page_elements_changed(tmp_path_factory, data):
    html_case(tmp_path_factory, data, read_web_page, WEB, ".tgme_widget_message[data-post]", "page.html")

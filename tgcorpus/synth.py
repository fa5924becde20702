"""Synthetic Telegram dumps with gold labels, for tests and benchmarks.

`synthesize(out, posts, seed)` writes `dump_0000.txt`, ... (text copies of channel
preview pages, in the format of data/raw/) and `gold.jsonl` (one line per post
occurrence, in file order) into `out`. The output is a function of (posts, seed,
files) only: one `random.Random(seed)` drives every choice.

Text comes from word-level Markov chains over sentences harvested from the two real
captures and shipped in `tgcorpus/resources/sentences.tsv`, so the generator works from
an installed package. Every variation a parser has to survive (see the rates in
`RATES`) is produced, and only in forms where the page's text is unambiguous:

* a title-only post is followed by a post with a header or placeholder, by a perfectly
  doubled own post, or by the end of the file; never by another title-only post or by a
  truncated post;
* a title never equals (ignoring emoji, punctuation and case) a body line of its post,
  and body lines within one post are distinct (separators aside, which are never first
  or last);
* a copy defect is at most one per occurrence: one copy lacks one interior line, or one
  copy lost the trailing emoji of one line (the true line is the longer one);
* footer lines (reactions, views, time) come only right after a post's second copy or
  after a title-only post; a bare count (custom emoji, paid stars) is on a line of its own.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from tasks.relate.link_translations import CYRILLIC_TO_LATIN

# --------------------------------------------------------------------------------------
# What a page can show
# --------------------------------------------------------------------------------------

VIEW_LINK = "VIEW IN TELEGRAM"
MEDIA_TOO_BIG = "Media is too big"
MEDIA_UNSUPPORTED = "This media is not supported in your browser"
MEDIA_OWN_ONLY = "Please open Telegram to view this post"  # seen only on the channel's own posts
PLACEHOLDERS = (MEDIA_TOO_BIG, MEDIA_UNSUPPORTED, MEDIA_OWN_ONLY)

# (Russian name, English name): a Russian post and its translation are forwarded from
# the two language versions of the same source.
CHANNEL_PAIRS = (
    ("МИД России 🇷🇺", "Russian MFA 🇷🇺"),
    ("Посольство России в Норвегии", "Russian Embassy in Norway"),
    ("Постпредство России при ООН", "Russia at the UN"),
    ("Интервидение 2025", "Intervision 2025"),
    ("Совет Безопасности России", "Security Council of Russia 🇷🇺"),
    ("Союзное государство 🇷🇺🇧🇾", "Union State 🇷🇺🇧🇾"),
)
SINGLE_CHANNELS = {"ru": ("Владимир Мединский", "Мария Захарова", "Росконгресс"),
                   "en": ("Global Digital Forum", "BRICS Russia 2024", "Roscongress")}

TITLE_EMOJI = ("🎙 ", "🎙️", "📰 ", "⚡️ ", "🗓 ", "📻 ", "📄 ", "🇷🇺 ", "❗️ ", "✍️ ", "📺 ")
LINE_EMOJI = ("💬 ", "• ", "☝️ ", "🌐 ", "❗️ ", "👉 ", "🤝 ", "👆 ", "💟 ", "⚡️ ")
TRAILING_EMOJI = ("🇷🇺 !", "🇷🇺", " 🇷🇺🤝🇧🇾", " 🔥", "💪", " 🇷🇺🇨🇳", "❤️")
SEPARATORS = ("***", "<...>")
LEAD_ANCHORS = {"ru": ("📺 Смотреть интервью", "📺 Смотреть видео"),
                "en": ("📺 Watch the interview", "📺 Watch the video")}
END_ANCHORS = {"ru": ("Читать полностью", "Полный текст интервью", "👉 Подробнее о Форуме"),
               "en": ("Read in full", "Read the interview in full", "Listen to the interview",
                      "👉 Learn more about the Forum", "👉 Register to participate")}
KEY_POINTS = {"ru": ("Ключевые тезисы:", "Основные тезисы:", "Главное:"),
              "en": ("Key points:", "Key talking points:", "Key agenda topics include:")}
SHORT_LINES = {"ru": ("Друзья,", "Дорогие коллеги,", "Мы на месте.", "Где:", "Когда:",
                      "Россия всегда держит слово."),
               "en": ("Friends,", "Colleagues,", "We are ready.", "Where:", "When:",
                      "Russia always keeps its word.")}
HASHTAGS = {"ru": ("#РоссияБелоруссия", "#СоюзноеГосударство", "#ЕАЭС", "#ООН", "#БРИКС",
                   "#Анонс", "#ОДКБ", "#Арктика"),
            "en": ("#RussiaBelarus", "#UnionState", "#GDF2025", "#RussiaKazakhstan", "#UN",
                   "#BRICS", "#Announcement", "#Arctic")}
PLACES = (("Москва", "Moscow"), ("Нью-Йорк", "New York"), ("Женева", "Geneva"),
          ("Минск", "Minsk"), ("Махачкала", "Makhachkala"), ("Вена", "Vienna"),
          ("Пекин", "Beijing"), ("Астана", "Astana"), ("Казань", "Kazan"))
MONTHS_RU = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
             "сентября", "октября", "ноября", "декабря")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
NEAR_EDITS = ("word", "line", "add_line", "emoji_lost")
# New titles and text lines are drawn again (up to FRESH_TRIES times) until they are new;
# a title is new when its first TITLE_KEY_WORDS words are too (see PostWriter.fresh).
FRESH_TRIES = 25
TITLE_KEY_WORDS = 6
# A near-duplicate keeps most of its post. One word changed in a post of under about 13
# words leaves its word-pair Jaccard below 0.7 ('Заявление МИД России' / 'Заявление МИД
# Беларуси' are two posts); 16 leaves room for the short boilerplate lines the detector
# skips. A replaced line must leave more than the title.
WORD_EDIT_MIN_WORDS = 16
REACTION_EMOJI = ("👍", "❤", "🔥", "👏", "🙏", "🤝", "💯", "😢", "🕊", "👎")


@dataclass(frozen=True)
class Rates:
    """How often each variation occurs (probabilities, per the unit named)."""
    # per post (new posts)
    forwarded: float = 0.55
    media: float = 0.15
    title_only: float = 0.025
    translation_follows: float = 0.30   # a Russian post is followed by its English version
    trailing_emoji_line: float = 0.15   # one body line ends in emoji (can be lost in a copy)
    # per occurrence slot
    exact_repeat: float = 0.03
    near_duplicate: float = 0.03
    copy_a_misses_line: float = 0.03    # bodies of >= 3 lines
    copy_b_misses_line: float = 0.03
    copy_loses_emoji: float = 0.40      # of occurrences whose body has an emoji-tailed line
    reactions: float = 0.20
    views: float = 0.10
    time: float = 0.08
    blank_gap: float = 0.04             # per gap between two posts: 1-2 blank lines
    trailing_space_line: float = 0.04   # per line, in files with trailing spaces
    # per file
    crlf: float = 0.10
    bom: float = 0.10
    trailing_spaces: float = 0.30
    truncated_end: float = 0.15
    overlap_start: float = 0.30         # the page repeats the last 1-5 posts of the previous one


RATES = Rates()
SENTENCES_PER_LINE = (1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5, 6)  # mean 2.7
POSTS_PER_FILE = 20  # a t.me/s page shows about 20 posts

# Emoji as they occur in these channels: pictographs, dingbats, flags, VS16 and ZWJ.
EMOJI_CLASS = "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D\u203C\u2049]"
TRAILING_EMOJI_RE = re.compile(rf"\s*{EMOJI_CLASS}+(?:\s*!)?\s*$")
LEADING_EMOJI_RE = re.compile(rf"^{EMOJI_CLASS}+\s*")
NON_WORD_RE = re.compile(r"[\W_]+")
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?…])\s+(?=[\"«“A-ZА-ЯЁ0-9])")
CYRILLIC_RE = re.compile(r"[\u0400-\u04FF]")
LATIN_RE = re.compile(r"[A-Za-z]")


def normalized(line: str) -> str:
    """A line as the parser compares it: no emoji, punctuation or case."""
    return NON_WORD_RE.sub("", line.casefold())


def title_key(title: str) -> str:
    """A title's first TITLE_KEY_WORDS words: titles that start alike read as one story."""
    return normalized(" ".join(title.split()[:TITLE_KEY_WORDS]))


def line_keys(line: str) -> tuple[str]:
    """A text line must be new as a line (emoji, punctuation and case aside)."""
    return (normalized(line),)


def title_keys(title: str) -> tuple[str, str]:
    """A title must be new as a line and as the start of a title."""
    return normalized(title), "title: " + title_key(title)


def without_trailing_emoji(line: str) -> str:
    """The line as a lossy copy shows it: `... в России🇷🇺 !` -> `... в России`."""
    return TRAILING_EMOJI_RE.sub("", line)


# --------------------------------------------------------------------------------------
# Word material
# --------------------------------------------------------------------------------------

RESOURCE_FILE = "sentences.tsv"


def language_of(text: str) -> str:
    return "ru" if len(CYRILLIC_RE.findall(text)) > len(LATIN_RE.findall(text)) else "en"


def harvest_sentences(captures: list[Path]) -> list[tuple[str, str]]:
    """(lang, sentence) pairs from real captures; how resources/sentences.tsv was made.

    Only page text is kept (no headers, placeholders or footers), with leading
    emoji and bullets removed, split into sentences of at least four words.
    """
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for path in captures:
        for line in path.read_text(encoding="utf-8-sig").split("\n"):
            line = line.strip()
            if line.startswith("Forwarded from ") or line in PLACEHOLDERS or line == VIEW_LINK:
                continue
            line = LEADING_EMOJI_RE.sub("", line).lstrip("•‼️ ")
            for sentence in SENTENCE_SPLIT_RE.split(line):
                sentence = " ".join(sentence.split())  # also drops any odd line separators
                if len(sentence.split()) >= 4 and sentence not in seen:
                    seen.add(sentence)
                    pairs.append((language_of(sentence), sentence))
    return pairs


def write_sentence_resource(captures: list[Path], dest: Path) -> None:
    header = ("# Sentences harvested from data/raw/*.txt by tgcorpus.synth.harvest_sentences;\n"
              "# lang<TAB>sentence, one a line. Word material for the synthetic dumps.\n")
    rows = "".join(f"{lang}\t{sentence}\n" for lang, sentence in harvest_sentences(captures))
    dest.write_text(header + rows, encoding="utf-8")


class TextModel:
    """Order-2 word Markov chains, one per language, with an occasional order-1 step.

    The order-1 step where the order-2 chain has a single continuation keeps a small
    training text from being replayed verbatim.
    """

    def __init__(self, sentences: dict[str, list[str]]):
        self.starts: dict[str, list[tuple[str, str]]] = {}
        self.next2: dict[str, dict[tuple[str, str], tuple]] = {}
        self.next1: dict[str, dict[str, tuple]] = {}
        self.words: dict[str, tuple[str, ...]] = {}
        for lang, lines in sentences.items():
            starts, next2, next1, words = [], {}, {}, {}
            for sentence in lines:
                tokens = sentence.split()
                starts.append((tokens[0], tokens[1]))
                for a, b, c in zip(tokens, tokens[1:], tokens[2:] + [None]):
                    next2.setdefault((a, b), []).append(c)
                    next1.setdefault(b, []).append(c)
                for token in tokens:
                    if token.isalpha() and len(token) > 3:
                        words[token] = None
            self.starts[lang] = starts
            self.next2[lang] = {k: tuple(v) for k, v in next2.items()}
            self.next1[lang] = {k: tuple(v) for k, v in next1.items()}
            self.words[lang] = tuple(words)

    def sentence(self, rng: random.Random, lang: str, max_words: int = 45) -> str:
        rand = rng.random
        starts, next2, next1 = self.starts[lang], self.next2[lang], self.next1[lang]
        a, b = starts[int(rand() * len(starts))]
        out = [a, b]
        for _ in range(max_words - 2):
            options = next2[(a, b)]
            if len(options) == 1 and rand() < 0.3:
                options = next1[b]
            c = options[int(rand() * len(options))]
            if c is None:
                break
            out.append(c)
            a, b = b, c
        text = " ".join(out).rstrip(",;:—–- ")
        return text if text[-1] in ".!?»\"”…)" else text + "."

    def word(self, rng: random.Random, lang: str) -> str:
        return rng.choice(self.words[lang])


@lru_cache(maxsize=1)
def load_text_model() -> TextModel:
    raw = resources.files("tgcorpus").joinpath("resources", RESOURCE_FILE).read_text("utf-8")
    sentences: dict[str, list[str]] = {"ru": [], "en": []}
    for row in raw.split("\n"):
        if row and not row.startswith("# "):
            lang, sentence = row.split("\t", 1)
            sentences[lang].append(sentence)
    return TextModel(sentences)


# --------------------------------------------------------------------------------------
# Posts
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Post:
    """One message: what the gold calls a post. Same uid = same text."""
    uid: str
    lang: str
    forwarded_from: str | None
    media: str | None
    title: str
    body: tuple[str, ...]
    near_of: str | None = None  # uid of the post this one was edited from
    edit: str | None = None     # how: 'word', 'line', 'add_line', 'emoji_lost'
    translation_of: str | None = None  # uid of the Russian post this English one translates

    @property
    def title_only(self) -> bool:
        return not self.body

    @property
    def has_header(self) -> bool:
        return self.forwarded_from is not None or self.media is not None

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.body))


@dataclass
class Occurrence:
    post: Post
    kind: str  # 'new', 'exact', 'near', 'overlap'


@dataclass(frozen=True)
class Context:
    """What a Russian post and its English version share."""
    source: int | None          # index into CHANNEL_PAIRS, -1: a one-language channel, None: own post
    media: str | None
    title_emoji: str
    place: int | None
    date: tuple[int, int, int]  # day, month index, year
    body_lines: int


def is_well_formed(title: str, body: tuple[str, ...] | list[str]) -> bool:
    """The rules that keep the doubled body of a post unambiguous."""
    title_key = normalized(title)
    if not title_key or any("\n" in x or "\r" in x or not x.strip() for x in (title, *body)):
        return False
    if body and (body[0] in SEPARATORS or body[-1] in SEPARATORS):
        return False
    keys = [normalized(x) for x in body if x not in SEPARATORS]
    return all(keys) and title_key not in keys and len(set(keys)) == len(keys)


# What a translation carries over from its Russian post (see `carried_over`): dates, months,
# numbers, URLs and @handles, and capitalised words not starting a sentence (names).
MONTH_STEMS_RU = ("январ", "феврал", "март", "апрел", "ма[йяе](?![а-я])", "июн", "июл", "август",
                  "сентябр", "октябр", "ноябр", "декабр")
MONTH_RU = rf"(?:{'|'.join(f'({stem})' for stem in MONTH_STEMS_RU)})[а-я]*"
NUMBER_RU = r"\d+(?:[ \u00a0]\d{3})*(?:,\d+)?"
CARRIED_RE = re.compile(
    rf"(?P<date>\d{{1,2}}(?:[-–]\d{{1,2}})?) (?P<date_month>{MONTH_RU})\b"
    rf"|(?P<month>\b{MONTH_RU}\b)"
    rf"|(?P<number>{NUMBER_RU})"
    r"|(?P<link>(?:https?://|t\.me/)[^\s)»\"]+|@\w{4,})"
    r"|(?P<name>\b[А-ЯЁІЇЄҐ][а-яёіїєґ]{2,})"
)
SENTENCE_START_RE = re.compile(r"(?:^|(?<![А-ЯЁA-Z])[.!?…]\s)\W*$")  # 'С.В.Лавров' is a name
HASHTAG_RE = re.compile(r"#\w+")
DATELINE_RU_RE = re.compile(r" \([^()]*\d{4} года\)$")  # the title's dateline, translated on its own
TRANSLITERATION_RE = re.compile("|".join(sorted(map(re.escape, CYRILLIC_TO_LATIN), key=len, reverse=True)))


def transliterated(word: str) -> str:
    latin = TRANSLITERATION_RE.sub(lambda m: CYRILLIC_TO_LATIN[m.group()], word.lower())
    return latin[:1].upper() + latin[1:]


def english_month(match: re.Match, first_group: int) -> str:
    """The English name of the month a MONTH_RU match names (its stem group's number)."""
    stem = next(i for i in range(len(MONTH_STEMS_RU)) if match.group(first_group + i) is not None)
    return MONTHS_EN[stem]


def carried_over(russian: str) -> list[str]:
    """What an English version of the Russian line keeps, in English and in order: '9-10 июня'
    -> 'June 9-10', '2,6' -> '2.6', '1 000' -> '1,000', 'Лаврова' -> 'Lavrova', links as
    they are. Capitalised words that start a sentence are not names; hashtags are
    translated as a whole elsewhere."""
    carried = []
    groups = CARRIED_RE.groupindex
    for match in CARRIED_RE.finditer(HASHTAG_RE.sub(" ", russian)):
        if match.group("date") is not None:
            carried.append(f"{english_month(match, groups['date_month'] + 1)} {match.group('date')}")
        elif match.group("month") is not None:
            carried.append(english_month(match, groups["month"] + 1))
        elif match.group("number") is not None:
            carried.append(match.group().replace(",", ".").replace(" ", ",").replace("\u00a0", ","))
        elif match.group("link") is not None:
            carried.append(match.group())
        elif not SENTENCE_START_RE.search(match.string[:match.start()]):
            carried.append(transliterated(match.group()))
    return carried


def with_carried(english: str, carried: list[str]) -> str:
    """The English line with the carried content in brackets before its closing punctuation
    (and trailing emoji, which a copy can lose)."""
    if not carried:
        return english
    core = without_trailing_emoji(english)
    text, stop = re.fullmatch(r"(.*?)([.!?…:]?)", core, re.S).groups()
    return f"{text} ({', '.join(carried)}){stop}{english[len(core):]}"


def translated_content(russian: Post, english: Post) -> Post:
    """`english` carrying the content of `russian`, line by line (text lines in order; the
    Russian lines beyond the English ones go to the last): a translation of a news post keeps
    its numbers, dates, names and links. No randomness, so the rest of the corpus is as
    it would be without."""
    lines = [english.title, *english.body]
    text_lines = [i for i, line in enumerate(lines) if line not in SEPARATORS]
    sources = [DATELINE_RU_RE.sub("", russian.title), *(x for x in russian.body if x not in SEPARATORS)]
    carried: dict[int, list[str]] = {}
    for k, source in enumerate(sources):
        carried.setdefault(text_lines[min(k, len(text_lines) - 1)], []).extend(carried_over(source))
    lines = [with_carried(line, carried.get(i, [])) for i, line in enumerate(lines)]
    return replace(english, title=lines[0], body=tuple(lines[1:]), translation_of=russian.uid)


def pick_body_length(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.06:
        return 1
    if roll < 0.11:
        return 2
    if roll < 0.36:
        return rng.randint(3, 6)
    if roll < 0.70:
        return rng.randint(7, 10)
    return rng.randint(11, 15)


class PostWriter:
    """Writes new posts and near-duplicates of earlier ones."""

    def __init__(self, rng: random.Random, model: TextModel):
        self.rng = rng
        self.model = model
        self.near_count = 0
        self.used: set[str] = set()  # keys of the titles and text lines written so far

    def fresh(self, make: Callable[[], str], keys: Callable[[str], tuple[str, ...]] = line_keys) -> str:
        """``make()`` again until none of its keys was written before (FRESH_TRIES at most).

        The text model replays its few hundred training sentences, so without this,
        unrelated posts would share whole lines and titles, which makes them near-duplicates
        the gold does not know of, and lines that recur under many titles boilerplate.
        """
        for _ in range(FRESH_TRIES):
            text = make()
            text_keys = keys(text)
            if self.used.isdisjoint(text_keys):
                break
        self.used.update(text_keys)
        return text

    # --- whole posts -------------------------------------------------------------------

    def new_post(self, uid: str, lang: str, title_only: bool, min_body: int,
                 context: Context | None = None) -> tuple[Post, Context]:
        r = self.rng
        context = context or self.random_context()
        forwarded = None
        if context.source == -1:
            forwarded = r.choice(SINGLE_CHANNELS[lang])
        elif context.source is not None:
            forwarded = CHANNEL_PAIRS[context.source][lang == "en"]
        n = 0 if title_only else max(min_body, context.body_lines + r.randint(-1, 1), 1)
        while True:
            title = self.title(lang, context)
            body = tuple(self.body(lang, n)) if n else ()
            if is_well_formed(title, body):
                return Post(uid, lang, forwarded, context.media, title, body), context

    def random_context(self) -> Context:
        r = self.rng
        source = None
        if r.random() < RATES.forwarded:
            source = r.randrange(len(CHANNEL_PAIRS)) if r.random() < 0.85 else -1
        media = None
        if r.random() < RATES.media:
            media = r.choice(PLACEHOLDERS if source is None else PLACEHOLDERS[:2])
        place = r.randrange(len(PLACES)) if r.random() < 0.4 else None
        date = (r.randint(1, 28), r.randrange(12), r.randint(2023, 2025))
        emoji = r.choice(TITLE_EMOJI) if r.random() < 0.7 else ""
        return Context(source, media, emoji, place, date, pick_body_length(r))

    # --- lines -------------------------------------------------------------------------

    def title(self, lang: str, context: Context) -> str:
        r = self.rng
        if r.random() < 0.04:
            return r.choice(HASHTAGS[lang])  # '#Announcement' as a whole title
        text = self.fresh(lambda: self.model.sentence(r, lang, max_words=r.randint(6, 22)).rstrip("."), title_keys)
        if context.place is not None:
            day, month, year = context.date
            if lang == "ru":
                text += f" ({PLACES[context.place][0]}, {day} {MONTHS_RU[month]} {year} года)"
            else:
                text += f" ({PLACES[context.place][1]}, {MONTHS_EN[month]} {day}, {year})"
        elif r.random() < 0.12:
            text += ":"
        return context.title_emoji + text

    def text_line(self, lang: str) -> str:
        r = self.rng
        if r.random() < 0.03:
            return r.choice(SHORT_LINES[lang])
        count = r.choice(SENTENCES_PER_LINE)
        prefix = r.choice(LINE_EMOJI) if r.random() < 0.3 else ""
        return prefix + self.fresh(lambda: " ".join(self.model.sentence(r, lang) for _ in range(count)))

    def body(self, lang: str, n: int) -> list[str]:
        """n body lines: optional lead anchor, key points, text, end anchor, hashtags."""
        r = self.rng
        head: list[str] = []
        tail: list[str] = []
        if n >= 4 and r.random() < 0.08:
            head.append(r.choice(LEAD_ANCHORS[lang]))
        if n >= 6 and r.random() < 0.2:
            head.append(r.choice(KEY_POINTS[lang]))
            for _ in range(r.randint(2, min(6, n - len(head) - 2))):
                head.append("• " + self.fresh(lambda: self.model.sentence(r, lang)))
        if n >= 3 and r.random() < 0.25:
            tail.append(r.choice(END_ANCHORS[lang]))
        if n >= 3 and r.random() < 0.15:
            tags = r.sample(HASHTAGS[lang], r.randint(1, 3))
            tail.extend(tags if r.random() < 0.4 else [" ".join(tags)])
            tail = tail[: n - len(head) - 1]
        middle = [self.text_line(lang) for _ in range(max(1, n - len(head) - len(tail)))]
        if len(middle) >= 4 and r.random() < 0.12:
            # between text lines, never first, last or next to another separator
            separator = r.choice(SEPARATORS)
            for position in sorted(r.sample(range(1, len(middle)), r.randint(1, 2)), reverse=True):
                middle.insert(position, separator)
        if r.random() < RATES.trailing_emoji_line:
            i = r.randrange(len(middle))
            if middle[i] not in SEPARATORS:
                middle[i] += r.choice(TRAILING_EMOJI)
        return head + middle + tail

    # --- near duplicates ---------------------------------------------------------------

    def near_duplicate(self, base: Post, uid: str) -> Post | None:
        """An edited copy of `base` (its text differs), or None if no edit fits.

        The edits take turns as first choice (a turn passes once its edit was made), so a
        few near-duplicates show all kinds.
        """
        preferred = NEAR_EDITS[self.near_count % len(NEAR_EDITS)]
        others = [e for e in NEAR_EDITS if e != preferred]
        self.rng.shuffle(others)
        for edit in [preferred, *others]:
            if base.title_only and edit in ("line", "add_line"):
                continue  # a title-only post stays title-only
            title, body = self.apply_edit(edit, base)
            if title is not None and (title, body) != (base.title, base.body) \
                    and is_well_formed(title, body):
                self.near_count += edit == preferred
                # an edited translation is not the translation: each post has at most one
                return replace(base, uid=uid, title=title, body=body, near_of=base.uid, edit=edit,
                               translation_of=None)
        return None

    def apply_edit(self, edit: str, base: Post) -> tuple[str | None, tuple[str, ...]]:
        r = self.rng
        lines = [base.title, *base.body]
        # a near-duplicate edits the body; the title only when there is no body
        editable = [0] if base.title_only else list(range(1, len(lines)))
        if edit == "word":
            candidates = [i for i in editable if len(lines[i].split()) >= 5]
            if not candidates or sum(len(line.split()) for line in lines) < WORD_EDIT_MIN_WORDS:
                return None, ()
            i = r.choice(candidates)
            words = lines[i].split(" ")
            j = r.randrange(len(words))
            words[j] = self.model.word(r, base.lang)
            lines[i] = " ".join(words)
        elif edit == "line":
            if len(lines) < 3:  # the title would be all that is left: a new post under it
                return None, ()
            i = r.randrange(1, len(lines))
            lines[i] = self.text_line(base.lang)
        elif edit == "add_line":
            lines.insert(r.randint(1, len(lines)), self.text_line(base.lang))
        else:  # emoji_lost: a leading or trailing emoji disappears from one line
            candidates = [(i, stripped) for i in editable
                          for stripped in (LEADING_EMOJI_RE.sub("", lines[i]),
                                           without_trailing_emoji(lines[i]))
                          if stripped != lines[i] and stripped.strip()]
            if not candidates:
                return None, ()
            i, lines[i] = r.choice(candidates)
        return lines[0], tuple(lines[1:])


# --------------------------------------------------------------------------------------
# Rendering one occurrence
# --------------------------------------------------------------------------------------

@dataclass
class Rendered:
    lines: list[str]
    defect: str | None = None  # 'a_missing_line', 'b_missing_line', 'a_lost_emoji', 'b_lost_emoji'
    reactions: list[dict] | None = None
    views: int | None = None
    time: str | None = None
    edited: bool = False
    truncated: bool = False


def render(post: Post, rng: random.Random, clean: bool = False, truncate: bool = False) -> Rendered:
    """Header, placeholder, title, two copies of the body, footer.

    `clean`: both copies exact (the post follows a title-only post and has no header).
    `truncate`: the page ends inside the second copy (no footer, copies otherwise exact).
    """
    lines = []
    if post.forwarded_from is not None:
        lines.append("Forwarded from " + post.forwarded_from)
    if post.media is not None:
        lines += [post.media, VIEW_LINK]
    lines.append(post.title)
    if truncate:
        cut = rng.randint(1, len(post.body) - 1)
        return Rendered(lines + list(post.body) + list(post.body[:cut]), truncated=True)
    copy_a, copy_b, defect = (list(post.body), list(post.body), None) if clean \
        else imperfect_copies(post.body, rng)
    result = Rendered(lines + copy_a + copy_b, defect=defect)
    add_footer(result, rng)
    return result


def imperfect_copies(body: tuple[str, ...], rng: random.Random) -> tuple[list[str], list[str], str | None]:
    """The two renderings of the body, at most one of them slightly damaged."""
    copy_a, copy_b = list(body), list(body)
    roll = rng.random()
    if len(body) >= 3 and roll < RATES.copy_a_misses_line + RATES.copy_b_misses_line:
        # never the first or last line, never a separator or a line between two separators
        candidates = [i for i in range(1, len(body) - 1) if body[i] not in SEPARATORS
                      and not (body[i - 1] in SEPARATORS and body[i + 1] in SEPARATORS)]
        if candidates:
            i = rng.choice(candidates)
            if roll < RATES.copy_a_misses_line:
                del copy_a[i]
                return copy_a, copy_b, "a_missing_line"
            del copy_b[i]
            return copy_a, copy_b, "b_missing_line"
    tailed = [i for i, line in enumerate(body) if without_trailing_emoji(line) != line
              and normalized(without_trailing_emoji(line))]
    if tailed and rng.random() < RATES.copy_loses_emoji:
        i = rng.choice(tailed)
        if rng.random() < 0.5:
            copy_a[i] = without_trailing_emoji(body[i])
            return copy_a, copy_b, "a_lost_emoji"
        copy_b[i] = without_trailing_emoji(body[i])
        return copy_a, copy_b, "b_lost_emoji"
    return copy_a, copy_b, None


def reaction_count(rng: random.Random) -> int:
    return min(999, int(10 ** rng.uniform(0, 3)))


def views_label(rng: random.Random) -> tuple[str, int]:
    """('4.2K views', 4200): the gold value is what the label says, not the exact count."""
    n = int(10 ** rng.uniform(2, 6.7))
    if n < 1000:
        return f"{n} views", n
    if n < 1_000_000:
        tenths = round(n / 100)
        if tenths >= 1000:  # 123K, no decimals
            return f"{tenths // 10}K views", tenths // 10 * 1000
        whole, frac = divmod(tenths, 10)
        label = f"{whole}.{frac}K" if frac else f"{whole}K"
        return f"{label} views", tenths * 100
    tenths = round(n / 100_000)
    whole, frac = divmod(tenths, 10)
    return (f"{whole}.{frac}M views" if frac else f"{whole}M views"), tenths * 100_000


def add_footer(result: Rendered, rng: random.Random) -> None:
    """Reactions (one line, side by side, or one per line; bare counts alone), views, time."""
    reactions: list[dict] = []
    if rng.random() < RATES.reactions:
        gap = " " if rng.random() < 0.5 else ""
        emoji = rng.sample(REACTION_EMOJI, 1 if rng.random() < 0.6 else rng.randint(2, 4))
        shown = [(e, reaction_count(rng)) for e in emoji]
        bare = reaction_count(rng) if rng.random() < 0.2 else None
        side_by_side = len(shown) > 1 and rng.random() < 0.5
        lines = [" ".join(f"{e}{gap}{c}" for e, c in shown)] if side_by_side \
            else [f"{e}{gap}{c}" for e, c in shown]
        reactions = [{"emoji": e, "count": c} for e, c in shown]
        if bare is not None:
            if rng.random() < 0.5:  # paid stars come first on the page
                lines.insert(0, str(bare))
                reactions.insert(0, {"emoji": None, "count": bare})
            else:
                lines.append(str(bare))
                reactions.append({"emoji": None, "count": bare})
        result.lines += lines
    result.reactions = reactions
    if rng.random() < RATES.views:
        label, result.views = views_label(rng)
        result.lines.append(label)
    if rng.random() < RATES.time:
        result.time = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"
        result.edited = rng.random() < 0.3
        result.lines.append(("edited " if result.edited else "") + result.time)


# --------------------------------------------------------------------------------------
# Planning the corpus
# --------------------------------------------------------------------------------------

@dataclass
class FileFeatures:
    crlf: bool = False
    bom: bool = False
    trailing_spaces: bool = False
    truncated_end: bool = False
    overlap_start: bool = False


def split_counts(rng: random.Random, posts: int, files: int) -> list[int]:
    """Occurrences per file: at least one each, otherwise proportional to random weights."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(files)]
    total = sum(weights)
    spare = posts - files
    counts = [1 + int(spare * w / total) for w in weights]
    for i in range(posts - sum(counts)):
        counts[i % files] += 1
    return counts


def assign_features(rng: random.Random, files: int) -> list[FileFeatures]:
    """File-level variations: an exact share of files, and at least one from 4 files up."""
    features = [FileFeatures() for _ in range(files)]
    for name in ("crlf", "bom", "trailing_spaces", "truncated_end", "overlap_start"):
        rate = getattr(RATES, name)
        eligible = list(range(1 if name == "overlap_start" else 0, files))
        if files >= 4:
            chosen = rng.sample(eligible, min(len(eligible), max(1, round(rate * files))))
        else:
            chosen = [i for i in eligible if rng.random() < rate]
        for i in chosen:
            setattr(features[i], name, True)
    return features


class Planner:
    """Decides which post each occurrence slot shows: new, exact repeat or near-duplicate."""

    def __init__(self, rng: random.Random, model: TextModel):
        self.rng = rng
        self.writer = PostWriter(rng, model)
        self.history: list[Post] = []  # every distinct post so far, in order of creation
        self.digests: set[bytes] = set()
        self.last_new: tuple[Post, Context] | None = None

    def next_uid(self) -> str:
        return f"p{len(self.history) + 1:07d}"

    def remember(self, post: Post) -> bool:
        """Record a distinct post; False if its text was already used by another uid."""
        digest = hashlib.blake2b(post.text.encode("utf-8"), digest_size=16).digest()
        if digest in self.digests:
            return False
        self.digests.add(digest)
        self.history.append(post)
        return True

    def earlier_post(self) -> Post:
        recent = self.history[-30:]
        return self.rng.choice(recent if self.rng.random() < 0.5 else self.history)

    def next_occurrence(self, allow_title_only: bool, min_body: int) -> Occurrence:
        r = self.rng
        roll = r.random()
        if self.history and roll < RATES.exact_repeat + RATES.near_duplicate:
            base = self.earlier_post()
            if len(base.body) >= min_body and (allow_title_only or not base.title_only):
                if roll < RATES.exact_repeat:
                    return Occurrence(base, "exact")
                near = self.writer.near_duplicate(base, self.next_uid())
                if near is not None and self.remember(near):
                    return Occurrence(near, "near")
        return Occurrence(self.new_post(allow_title_only, min_body), "new")

    def new_post(self, allow_title_only: bool, min_body: int) -> Post:
        r = self.rng
        while True:
            title_only = allow_title_only and min_body == 0 and r.random() < RATES.title_only
            translate = (self.last_new is not None and self.last_new[0].lang == "ru"
                         and not self.last_new[0].title_only and r.random() < RATES.translation_follows)
            if translate:
                lang, context = "en", self.last_new[1]
                title_only = False
            else:
                lang, context = ("ru" if r.random() < 0.5 else "en"), None
            post, context = self.writer.new_post(self.next_uid(), lang, title_only, min_body, context)
            if translate:
                post = translated_content(self.last_new[0], post)
            if self.remember(post):
                # an English version ends the pair: it does not start another one
                self.last_new = None if translate else (post, context)
                return post

    def plan_file(self, count: int, features: FileFeatures,
                  previous: list[Occurrence]) -> list[Occurrence]:
        slots: list[Occurrence] = []
        if features.overlap_start and previous and count > 1:
            k = min(self.rng.randint(1, 5), len(previous), count - 1)
            slots = [Occurrence(o.post, "overlap") for o in previous[-k:]]
        if features.truncated_end and slots and len(slots) >= count - 1 and slots[-1].post.title_only:
            # the post before a truncated one may not be title-only; assemble_file reads this flag
            features.truncated_end = False
        while len(slots) < count:
            i = len(slots)
            truncating_last = features.truncated_end and i == count - 1
            allow_title_only = not (slots and slots[-1].post.title_only) \
                and not (features.truncated_end and i == count - 2) and not truncating_last
            slots.append(self.next_occurrence(allow_title_only, 2 if truncating_last else 0))
        return slots


# --------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------

NOT_PROSE = re.compile(r"@\w+|https?://\S+")


def has_language(text: str) -> bool:
    """A letter outside mentions and links: only a post without one is `und` in the gold
    (issue 13: a short post or one of hashtags only is tagged by its words)."""
    return any(c.isalpha() for c in NOT_PROSE.sub(" ", text))


def gold_record(name: str, start: int, end: int, occurrence: Occurrence, rendered: Rendered) -> dict:
    post = occurrence.post
    return {
        "file": name, "line_start": start, "line_end": end,
        "uid": post.uid, "near_of": post.near_of, "kind": occurrence.kind,
        "lang": post.lang if has_language(post.text) else "und", "forwarded_from": post.forwarded_from, "media": post.media,
        "title": post.title, "body": list(post.body), "text": post.text,
        "reactions": rendered.reactions or [], "views": rendered.views,
        "time": rendered.time, "edited": rendered.edited,
        "truncated": rendered.truncated, "title_only": post.title_only,
        "defect": rendered.defect, "edit": post.edit, "translation_of": post.translation_of,
    }


def assemble_file(name: str, slots: list[Occurrence], features: FileFeatures,
                  rng: random.Random) -> tuple[str, list[dict]]:
    """The text of one dump file and its gold records."""
    lines: list[str] = []
    records = []
    for i, occurrence in enumerate(slots):
        if i and rng.random() < RATES.blank_gap:
            lines.extend([""] * rng.randint(1, 2))
        previous_title_only = i > 0 and slots[i - 1].post.title_only
        rendered = render(occurrence.post, rng,
                          clean=previous_title_only and not occurrence.post.has_header,
                          truncate=features.truncated_end and i == len(slots) - 1)
        start = len(lines) + 1
        lines += rendered.lines
        records.append(gold_record(name, start, len(lines), occurrence, rendered))
    if features.trailing_spaces:
        rand = rng.random
        lines = [x + (" " if rand() < 0.7 else "  ") if x and rand() < RATES.trailing_space_line else x
                 for x in lines]
    text = ("\r\n" if features.crlf else "\n").join(lines)  # no newline after the last line
    return ("\ufeff" + text if features.bom else text), records


def clear_previous_output(out: Path) -> None:
    for stale in [*out.glob("dump_*.txt"), out / "gold.jsonl"]:
        if stale.is_file():
            stale.unlink()


def synthesize(out: Path, posts: int, seed: int, files: int | None = None) -> dict:
    """Write `posts` post occurrences as dump files plus gold.jsonl into `out`.

    `files` defaults to one file per ~20 occurrences (a page). Existing dump_*.txt and
    gold.jsonl in `out` are replaced. Returns a summary of what was written.
    """
    if posts < 1:
        raise ValueError("posts must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clear_previous_output(out)
    rng = random.Random(seed)
    files = min(posts, files if files is not None else max(1, round(posts / POSTS_PER_FILE)))
    counts = split_counts(rng, posts, files)
    features = assign_features(rng, files)
    planner = Planner(rng, load_text_model())
    summary = {"files": files, "occurrences": 0, "unique_posts": 0, "near_duplicates": 0,
               "exact_repeats": 0, "overlaps": 0, "lines": 0, "bytes": 0}
    previous: list[Occurrence] = []
    with open(out / "gold.jsonl", "w", encoding="utf-8", newline="\n") as gold:
        for index, count in enumerate(counts):
            name = f"dump_{index:04d}.txt"
            slots = planner.plan_file(count, features[index], previous)
            text, records = assemble_file(name, slots, features[index], rng)
            data = text.encode("utf-8")
            (out / name).write_bytes(data)
            gold.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            summary["occurrences"] += len(records)
            summary["lines"] += text.count("\n") + 1
            summary["bytes"] += len(data)
            for occurrence in slots:
                summary["near_duplicates"] += occurrence.kind == "near"
                summary["exact_repeats"] += occurrence.kind == "exact"
                summary["overlaps"] += occurrence.kind == "overlap"
            previous = slots
    summary["unique_posts"] = len(planner.history)
    return summary

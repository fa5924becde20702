"""Link a post to its version in another language: `relations` rows of kind 'translation'.

State channels post a statement in Russian and then in English, usually next to each
other. The two share few words but much that survives translation: numbers and dates,
names (Лавров/Lavrov once transliterated), hashtags, emoji and flags, the number of lines,
roughly the length, the media placeholder, the kind of source. Each is a similarity in
0..1, or null where it says nothing (two posts without hashtags); a pair's score is the
weighted mean of the non-null ones (`Weights`). Candidates are posts of one channel in
different languages at most `window` posts apart in the channel's first-seen order
(posts with a language counted) whose content corresponds (enough
anchors, see `anchors` and TranslationParams): on a news channel, unrelated neighbours
have the same shape and closeness. Pairs are taken best correspondence first, then best
score (above `min_score`), a post getting at most one partner per other language.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import polars as pl

from tasks.reading.entities import hashtags_of
from tasks.relate import CHUNK_POSTS

LINK_SCHEMA = {"rank": pl.UInt32, "rank_other": pl.UInt32, "post_id": pl.Utf8, "other_post_id": pl.Utf8,
               "score": pl.Float64}

# BGN/PCGN-like, aimed at the English spelling of Russian names (Нижний -> nizhny).
CYRILLIC_TO_LATIN = {
    "ий": "y", "ый": "y",
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    # Ukrainian letters, so that Київ and Зеленського compare with Kyiv and Zelensky
    "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "'": "", "’": "",
}
# A month named in Russian, Ukrainian or English ('июня', 'червня', 'June') is one anchor,
# 'month6', on both sides: datelines are the commonest content a translation keeps.
MONTHS = (
    r"\b(?i:январ|січня)|January", r"\b(?i:феврал|лютого)|February", r"\b(?i:март|березня)|March",
    r"\b(?i:апрел|квітня)|April", r"\b(?i:ма[йяе]\b|травня)|May", r"\b(?i:июн|червня)|June",
    r"\b(?i:июл|липня)|July", r"\b(?i:август|серпня)|August", r"\b(?i:сентябр|вересня)|September",
    r"\b(?i:октябр|жовтня)|October", r"\b(?i:ноябр|листопада)|November", r"\b(?i:декабр|грудня)|December",
)
ENGLISH_MONTHS = [pattern.rsplit("|", 1)[1].lower() for pattern in MONTHS]
LINK = r"(?i)(?:https?://|www\.|t\.me/)[^\s)\]>»\"]+|@\w{4,}"  # URLs and @handles, compared as written
# '1 000', '1,000', "1'000" -> '1000'; '2,6' and '2.6' stay two numbers in either language.
DIGIT_GROUP = r"(\d)[ \u00a0\u202f',](\d{3})(?-u:\b)"  # ASCII \b: far faster
NAME = r"\p{Lu}\p{Ll}{2,}"  # a capitalised word (or part of a hashtag); acronyms do not transliterate
# The first word of a line or sentence is capitalised in any language: not a name.
SENTENCE_START = r"(?m)(^|[\p{Ll}\d»\")][.!?…]\s+)[^\p{L}\p{N}\n]*\p{Lu}\p{Ll}+"
# Pictographs, dingbats, flags (regional indicators), ZWJ sequences and bullets.
EMOJI = r"[\x{1F000}-\x{1FAFF}\x{2600}-\x{27BF}\x{2B00}-\x{2BFF}\x{203C}\x{2049}\x{2022}\x{200D}]+"
STEM = 6  # letters of a name compared: inflection (Лаврова, Нижнем) changes the end
WHOLE_WORD = 30  # hashtags and channel names: compared over (nearly) all their letters


@dataclass(frozen=True)
class Weights:
    """How much each similarity counts in a pair's score (a weighted mean)."""
    numbers: float = 1.5
    title_numbers: float = 4.0  # a shared dateline all but settles it
    names: float = 1.0
    hashtags: float = 0.25
    emoji: float = 0.75
    title_emoji: float = 1.5
    lines: float = 1.5
    length: float = 0.5
    distance: float = 2.0
    media: float = 2.0
    forwarded: float = 1.0


@dataclass(frozen=True)
class TranslationParams:
    window: int = 10         # how many posts apart in its channel a translation may be
    min_score: float = 0.66  # pairs scoring less are not linked
    # Content must correspond, whatever the shape and closeness: at least this many anchors
    # (numbers, months, transliterated names, links, handles) found on both sides, ...
    min_anchors: int = 3
    # ... making this share of both posts' anchors (Dice). English capitalises more words
    # than Russian (Foreign Minister, Union State), so true pairs of the seeds reach only
    # 0.24-0.47; unrelated neighbours sharing a few anchors among many stay below.
    min_correspondence: float = 0.2
    weights: Weights = field(default_factory=Weights)


def transliterated(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().str.replace_many(CYRILLIC_TO_LATIN, leftmost=True)


def latin_words(text: pl.Expr) -> pl.Expr:
    return transliterated(text).str.extract_all(r"\p{L}+")


def numbers(text: pl.Expr) -> pl.Expr:
    joined = text.str.replace_all(DIGIT_GROUP, "${1}${2}").str.replace_all(DIGIT_GROUP, "${1}${2}")
    return joined.str.replace_all(r"(?-u:\b)0+(\d)", "$1").str.extract_all(r"\d+")  # '05' is 5


def anchors(text: pl.Expr, names: pl.Expr) -> pl.Expr:
    """What a translation keeps whatever the language: numbers, months (as 'month6'),
    names (`names`: transliterated words, compared by their first STEM letters), URLs
    and @handles."""
    months = [pl.when(text.str.contains(pattern)).then(pl.lit(f"month{i}")) for i, pattern in enumerate(MONTHS, 1)]
    return pl.concat_list(
        numbers(text),
        pl.concat_list(months).list.drop_nulls(),
        # a month is its 'monthN' anchor, not also a name
        names.list.eval(pl.element().filter(~pl.element().is_in(ENGLISH_MONTHS)).str.slice(0, STEM)),
        text.str.extract_all(LINK).list.eval(pl.element().str.to_lowercase()),
    )


def hashed(frame: pl.DataFrame, column: str, *, pieces: int = 0, multiset: bool = False) -> pl.DataFrame:
    """Replace a list-of-strings column by the hashes of its tokens, for set overlaps.

    `pieces`: compare words by their 3-letter pieces within the first `pieces` letters
    ('^' marks the start), so that 'lavrov' and 'lavrova' mostly agree. `multiset`: the
    n-th repeat of a token counts as its own token, so that two 5s match two 5s.
    """
    long = frame.select("rank", column).explode(column).drop_nulls(column)
    if pieces:
        marked = ("^" + pl.col(column)).str.slice(0, pieces + 1)
        pieces_of_word = pl.concat_list([marked.str.slice(i, 3) for i in range(pieces - 1)])
        long = long.unique().select("rank", pieces_of_word.alias(column))
        long = long.explode(column).filter(pl.col(column).str.len_chars() == 3).unique()
    if multiset:
        long = long.with_columns(pl.col(column) + "#" + pl.int_range(pl.len()).over("rank", column).cast(pl.Utf8))
    tokens = long.group_by("rank").agg(pl.col(column).hash())
    return frame.drop(column).join(tokens, on="rank", how="left").with_columns(
        pl.col(column).fill_null(pl.lit([], pl.List(pl.UInt64)))
    )


def post_features(posts: pl.DataFrame) -> pl.DataFrame:
    """One row per post: its sighting rank and the pieces the pair features compare."""
    text = pl.col("text").str.replace_all("\ufe0f", "")  # 🎙️ and 🎙 are one emoji
    title = text.str.extract(r"^([^\n]*)")
    channel = pl.col("forwarded_from")
    names = latin_words(text.str.replace_all(SENTENCE_START, "$1").str.extract_all(NAME).list.join(" "))
    frame = (
        posts.rename({"channel": "posted_in"})
        .filter(pl.col("lang").is_not_null() & (pl.col("lang") != "und"))
        .sort("posted_in", "first_seen", "post_id", nulls_last=True)
        .with_row_index("rank")
        .select(
            "rank", "post_id", "lang", "media", "posted_in",
            forwarded=channel.is_not_null(),
            channel=latin_words(channel),
            channel_emoji=channel.str.extract_all(EMOJI).list.join(""),
            numbers=numbers(text),
            title_numbers=numbers(title),
            names=names,
            anchors=anchors(text, names),
            hashtags=latin_words(hashtags_of(text).list.join(" ")),
            emoji=text.str.extract_all(EMOJI),
            title_emoji=title.str.extract(rf"^({EMOJI})").fill_null(""),
            n_lines=text.str.count_matches("\n") + 1,
            n_chars=text.str.len_chars(),
        )
    )
    for column in ("channel", "hashtags"):
        frame = hashed(frame, column, pieces=WHOLE_WORD)
    frame = hashed(frame, "names", pieces=STEM)
    for column in ("numbers", "emoji", "anchors"):
        frame = hashed(frame, column, multiset=True)
    return hashed(frame, "title_numbers")


def dice(column: str) -> pl.Expr:
    """2|A∩B| / (|A|+|B|) of a list column and its `_other`; null when both are empty."""
    a, b = pl.col(column), pl.col(column + "_other")
    sizes = a.list.len() + b.list.len()
    return pl.when(sizes > 0).then(2 * a.list.set_intersection(b).list.len() / sizes)


def both_have(column: str) -> pl.Expr:
    return (pl.col(column).list.len() > 0) & (pl.col(column + "_other").list.len() > 0)


def pair_features() -> dict[str, pl.Expr]:
    """Similarities in 0..1, null where a feature says nothing about the pair."""
    chars_ratio = pl.col("n_chars").cast(pl.Float64) / pl.col("n_chars_other")
    flag = pl.col("channel_emoji")
    same_channel_emoji = (flag != "") & (flag == pl.col("channel_emoji_other"))
    return {
        "numbers": dice("numbers"),
        # the dateline: '(Москва, 10 июня 2025 года)' / '(Moscow, June 10, 2025)'
        "title_numbers": pl.when(both_have("title_numbers")).then(dice("title_numbers")),
        "names": dice("names"),
        "hashtags": pl.when(both_have("hashtags")).then(dice("hashtags")),
        "emoji": pl.when(both_have("emoji")).then(dice("emoji")),
        "title_emoji": (pl.col("title_emoji") == pl.col("title_emoji_other")).cast(pl.Float64),
        "lines": pl.min_horizontal("n_lines", "n_lines_other") / pl.max_horizontal("n_lines", "n_lines_other"),
        # English runs about as long as Russian: half or double the length scores 0
        "length": (1 - chars_ratio.log().abs() / math.log(2)).clip(0, 1),
        "distance": 1 / (pl.col("rank_other") - pl.col("rank")),
        "media": pl.col("media").eq_missing(pl.col("media_other")).cast(pl.Float64),
        # Both own posts, or forwarded from the two versions of one source: same flag
        # (МИД России 🇷🇺 / Russian MFA 🇷🇺) or a transliterated name (Интервидение / Intervision).
        "forwarded": pl.when(pl.col("forwarded") != pl.col("forwarded_other")).then(0.0)
        .when(~pl.col("forwarded") | same_channel_emoji).then(1.0)
        .otherwise(0.5 + dice("channel") / 2),
    }


def scored_candidates(posts: pl.DataFrame, params: TranslationParams = TranslationParams(),
                      chunk_posts: int = CHUNK_POSTS) -> pl.DataFrame:
    """Every pair of posts in different languages within the window, with its features and score;
    posts without `first_seen` (not in sight) take no part.

    Posts are taken `chunk_posts` at a time in channel and first-seen order (plus the window after
    them, where their partners can be), so that the per-post lists (names, numbers,
    emoji) exist for one chunk at a time however many posts there are.
    """
    # Which rows, in which order: small columns only; a chunk's texts are gathered by row.
    rows = (
        posts.select("channel", "lang", "first_seen", "post_id", row=pl.int_range(pl.len(), dtype=pl.UInt32))
        .filter(pl.col("lang").is_not_null() & (pl.col("lang") != "und") & pl.col("first_seen").is_not_null())
        .sort("channel", "first_seen", "post_id", nulls_last=True)["row"]
    )
    weights = asdict(params.weights)
    weighted = pl.sum_horizontal(pl.col(name).fill_null(0) * w for name, w in weights.items())
    present = pl.sum_horizontal(pl.col(name).is_not_null() * w for name, w in weights.items())
    matched = pl.col("anchors").list.set_intersection(pl.col("anchors_other")).list.len()
    scored = []
    for start in range(0, max(rows.len(), 1), chunk_posts):
        # post_features numbers the posts it is given; ranks are made run-wide here
        frame = post_features(posts[rows.slice(start, chunk_posts + params.window)]).with_columns(
            pl.col("rank") + start
        )
        keys = frame.select("rank", "lang", "posted_in")
        pairs = keys.filter(pl.col("rank") < start + chunk_posts).join_where(
            keys,
            pl.col("rank_other") > pl.col("rank"),
            pl.col("rank_other") <= pl.col("rank") + params.window,
            suffix="_other",
        ).filter(
            (pl.col("lang") != pl.col("lang_other")) & pl.col("posted_in").eq_missing(pl.col("posted_in_other"))
        ).select("rank", "rank_other")
        other = frame.rename(lambda name: name + "_other")
        scored.append(
            pairs.join(frame, on="rank").join(other, on="rank_other")
            .with_columns(**pair_features(), matched_anchors=matched, correspondence=dice("anchors").fill_null(0.0))
            .filter((pl.col("matched_anchors") >= params.min_anchors)
                    & (pl.col("correspondence") >= params.min_correspondence))
            # rounded: the sums differed in the last bit between a Dask run and a local one,
            # and the score decides which pairs are linked
            .select("rank", "rank_other", "post_id", "post_id_other", "lang", "lang_other", *weights,
                    "matched_anchors", pl.col("correspondence").round(9),
                    score=(weighted / present).round(9))
        )
    return pl.concat(scored)


def translation_pairs(posts: pl.DataFrame, params: TranslationParams = TranslationParams(),
                      taken: set[tuple[str, str]] = frozenset()) -> pl.DataFrame:
    """posts (post_id, text, lang, first_seen, forwarded_from[, channel][, media]) ->
    relations rows. `taken`: (post_id, language) of the links the posts have already.

    One row per linked pair, `post_id` being the earlier-seen post, in channel and
    sighting order.
    """
    posts = posts.with_columns(pl.lit(None, pl.Utf8).alias(column) for column in ("media", "channel")
                               if column not in posts.columns)
    # Content first: the score (shape, closeness and content together) only orders
    # candidates whose content corresponds equally well.
    candidates = (
        scored_candidates(posts, params)
        .filter(pl.col("score") >= params.min_score)
        .sort(["correspondence", "score", "rank_other", "rank"], descending=[True, True, False, False])
    )
    # Greedy one-to-one per language: a post keeps its best partner in each other language.
    taken = set(taken)
    links = []
    for rank, rank_other, post, other, lang, lang_other, score in candidates.select(
        "rank", "rank_other", "post_id", "post_id_other", "lang", "lang_other", "score"
    ).iter_rows():
        if (post, lang_other) in taken or (other, lang) in taken:
            continue
        taken |= {(post, lang_other), (other, lang)}
        links.append((rank, rank_other, post, other, score))
    return (
        pl.DataFrame(links, schema=LINK_SCHEMA, orient="row")
        .sort("rank", "rank_other")
        .select("post_id", "other_post_id", kind=pl.lit("translation"), score="score")
    )

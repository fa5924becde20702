"""Link a post to its version in another language: `relations` rows of kind 'translation'.

State channels post a statement in Russian and then in English (or the reverse), usually
a few posts apart. The two share few words but much that survives translation: numbers
and dates, names (Лавров/Lavrov once transliterated), emoji and flags, the number of
lines, roughly the length, the media placeholder, being forwarded or not. Each of these
is a similarity in 0..1, and a pair's score is their weighted mean over the features that
say something about it (two posts without numbers tell nothing by their numbers).
Candidates are only posts of different languages at most `window` sightings apart; the
best-scoring pairs are taken first, each post getting at most one partner per language.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import polars as pl

RELATION_SCHEMA = {"post_id": pl.Utf8, "other_post_id": pl.Utf8, "kind": pl.Utf8, "score": pl.Float64}

# BGN/PCGN-like, aimed at the English spelling of Russian names (Нижний -> nizhny).
CYRILLIC_TO_LATIN = {
    "ий": "y", "ый": "y",
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}
# '1 000', '1,000', "1'000" -> '1000'; '2,6' and '2.6' stay two numbers in either language.
DIGIT_GROUP = r"(\d)[ \u00a0\u202f',](\d{3})\b"
NAME = r"\b\p{Lu}\p{Ll}{2,}"  # a capitalised word; all-caps acronyms do not transliterate
# The first word of a line or sentence is capitalised in any language: not a name.
SENTENCE_START = r"(?m)(^|[\p{Ll}\d»\")][.!?…]\s+)[^\p{L}\p{N}\n]*\p{Lu}\p{Ll}+"
HASHTAG = r"#[\p{L}\p{N}_]+"
# Pictographs, dingbats, flags (regional indicators), ZWJ sequences and bullets.
EMOJI = r"[\x{1F000}-\x{1FAFF}\x{2600}-\x{27BF}\x{2B00}-\x{2BFF}\x{203C}\x{2049}\x{2022}\x{200D}]+"
STEM = 6  # letters of a name compared: inflection (Лаврова, Нижнем) changes the end


@dataclass(frozen=True)
class Weights:
    numbers: float = 3.0
    names: float = 2.0
    title_emoji: float = 1.0
    emoji: float = 1.0
    hashtags: float = 0.5
    lines: float = 1.5
    length: float = 1.0
    distance: float = 2.0
    media: float = 0.5
    forwarded: float = 1.0


@dataclass(frozen=True)
class TranslationParams:
    window: int = 10        # how many sightings apart a translation may be
    min_score: float = 0.5  # pairs scoring less are not linked
    weights: Weights = field(default_factory=Weights)


def transliterated(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().str.replace_many(CYRILLIC_TO_LATIN, leftmost=True)


def trigrams(words: pl.Expr, width: int) -> pl.Expr:
    """Distinct 3-letter pieces of the first `width` letters of each word, '^' marking starts."""
    marked = ("^" + pl.element()).str.slice(0, width + 1)
    pieces = pl.concat_list([marked.str.slice(i, 3) for i in range(width - 1)])
    return words.list.eval(pieces.explode().filter(pieces.explode().str.len_chars() == 3)).list.unique()


def numbers(text: pl.Expr) -> pl.Expr:
    joined = text.str.replace_all(DIGIT_GROUP, "${1}${2}").str.replace_all(DIGIT_GROUP, "${1}${2}")
    return joined.str.extract_all(r"\d+").list.eval(pl.element().str.strip_chars_start("0"))


def counted(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """A list as a multiset: the n-th repeat of a token becomes its own token ('5#0', '5#1')."""
    long = frame.select("rank", column).explode(column).drop_nulls(column)
    repeat = pl.int_range(pl.len()).over("rank", column).cast(pl.Utf8)
    tagged = long.with_columns((pl.col(column) + "#" + repeat).hash())
    return frame.drop(column).join(tagged.group_by("rank").agg(column), on="rank", how="left").with_columns(
        pl.col(column).fill_null(pl.lit([], pl.List(pl.UInt64)))
    )


def post_features(posts: pl.DataFrame) -> pl.DataFrame:
    """One row per post: its sighting rank and the pieces the pair features compare."""
    text = pl.col("text")
    frame = (
        posts.filter(pl.col("lang").is_not_null() & (pl.col("lang") != "und"))
        .sort("first_seen", "post_id")
        .with_row_index("rank")
        .select(
            "rank", "post_id", "lang", "media",
            forwarded=pl.col("forwarded_from").is_not_null(),
            forward_emoji=pl.col("forwarded_from").str.extract_all(EMOJI).list.join(""),
            numbers=numbers(text),
            emoji=text.str.replace_all("\ufe0f", "").str.extract_all(EMOJI),
            title_emoji=text.str.replace_all("\ufe0f", "").str.extract(rf"^({EMOJI})").fill_null(""),
            names=trigrams(transliterated(text.str.replace_all(SENTENCE_START, "$1").str.extract_all(NAME)
                                          .list.join(" ")).str.split(" "), STEM)
            .list.eval(pl.element().hash()),
            hashtags=trigrams(transliterated(text.str.extract_all(HASHTAG).list.join(" ").str.replace_all("#", ""))
                              .str.split(" ").list.eval(pl.element().filter(pl.element() != "")), 32)
            .list.eval(pl.element().hash()),
            n_lines=text.str.count_matches("\n") + 1,
            n_chars=text.str.len_chars(),
        )
    )
    return counted(counted(frame, "numbers"), "emoji")


def dice(a: str, b: str) -> pl.Expr:
    """2|A∩B| / (|A|+|B|) of two list columns; null when both are empty."""
    sizes = pl.col(a).list.len() + pl.col(b).list.len()
    common = pl.col(a).list.set_intersection(pl.col(b)).list.len()
    return pl.when(sizes > 0).then(2 * common / sizes)


def both_have(column: str) -> pl.Expr:
    return (pl.col(column).list.len() > 0) & (pl.col(column + "_other").list.len() > 0)


def pair_features() -> dict[str, pl.Expr]:
    """Similarities in 0..1, null where a feature says nothing about the pair."""
    chars_ratio = pl.col("n_chars").cast(pl.Float64) / pl.col("n_chars_other")
    return {
        "numbers": dice("numbers", "numbers_other"),
        "names": dice("names", "names_other"),
        "title_emoji": (pl.col("title_emoji") == pl.col("title_emoji_other")).cast(pl.Float64),
        "emoji": pl.when(both_have("emoji")).then(dice("emoji", "emoji_other")),
        "hashtags": pl.when(both_have("hashtags")).then(dice("hashtags", "hashtags_other")),
        "lines": pl.min_horizontal("n_lines", "n_lines_other") / pl.max_horizontal("n_lines", "n_lines_other"),
        # English runs about as long as Russian: half or double the length scores 0
        "length": (1 - chars_ratio.log().abs() / math.log(2)).clip(0, 1),
        "distance": 1 / (pl.col("rank_other") - pl.col("rank")),
        "media": pl.col("media").eq_missing(pl.col("media_other")).cast(pl.Float64),
        # both own posts, or both forwarded (the two language versions of a source often
        # carry the same flag: МИД России 🇷🇺 / Russian MFA 🇷🇺)
        "forwarded": pl.when(pl.col("forwarded") != pl.col("forwarded_other")).then(0.0)
        .when(~pl.col("forwarded") | (pl.col("forward_emoji") == pl.col("forward_emoji_other"))).then(1.0)
        .otherwise(0.5),
    }


def scored_candidates(posts: pl.DataFrame, params: TranslationParams = TranslationParams()) -> pl.DataFrame:
    """Every pair of posts in different languages within the window, with its features and score."""
    frame = post_features(posts)
    pairs = frame.join_where(
        frame,
        pl.col("rank_other") > pl.col("rank"),
        pl.col("rank_other") <= pl.col("rank") + params.window,
        suffix="_other",
    ).filter(pl.col("lang") != pl.col("lang_other"))
    weights = asdict(params.weights)
    features = pair_features()
    weighted = pl.sum_horizontal(pl.col(name).fill_null(0) * w for name, w in weights.items())
    present = pl.sum_horizontal(pl.col(name).is_not_null() * w for name, w in weights.items())
    return pairs.with_columns(**features).with_columns(score=weighted / present).select(
        "rank", "rank_other", "post_id", "post_id_other", "lang", "lang_other", *weights, "score"
    )


def translation_pairs(posts: pl.DataFrame, params: TranslationParams = TranslationParams()) -> pl.DataFrame:
    """posts (post_id, text, lang, first_seen, forwarded_from[, media]) -> relations rows.

    One row per linked pair, `post_id` being the earlier-seen post, in sighting order.
    """
    if "media" not in posts.columns:
        posts = posts.with_columns(media=pl.lit(None, pl.Utf8))
    candidates = (
        scored_candidates(posts, params)
        .filter(pl.col("score") >= params.min_score)
        .sort(["score", "rank_other", "rank"], descending=[True, False, False])
    )
    # Greedy one-to-one per language: a post keeps its best partner in each other language.
    taken: set[tuple[str, str]] = set()
    links = []
    for rank, rank_other, post, other, lang, lang_other, score in candidates.select(
        "rank", "rank_other", "post_id", "post_id_other", "lang", "lang_other", "score"
    ).iter_rows():
        if (post, lang_other) in taken or (other, lang) in taken:
            continue
        taken |= {(post, lang_other), (other, lang)}
        links.append((rank, rank_other, post, other, score))
    return (
        pl.DataFrame(links, schema=["rank", "rank_other", "post_id", "other_post_id", "score"], orient="row")
        .sort("rank", "rank_other")
        .select("post_id", "other_post_id", kind=pl.lit("translation"), score=pl.col("score").cast(pl.Float64))
        .cast(RELATION_SCHEMA)
    )

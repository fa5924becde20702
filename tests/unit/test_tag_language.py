"""Tests for tasks.language.tag_language (offline; labelled sample in tests/fixtures/langid)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tasks.language.tag_language import DEFAULT_LANGUAGES, LanguageTagger, tag_paragraphs, tag_posts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "langid"
ROOT = Path(__file__).resolve().parents[2]

RU_LINE = "Министр иностранных дел провёл переговоры с коллегами и обсудил вопросы безопасности в регионе."
RU_LINE_2 = "Стороны договорились продолжить консультации на уровне экспертов в ближайшее время."
EN_LINE = "The ministers also discussed the situation in the Middle East."
UK_LINE = "Міністр закордонних справ України провів зустріч із європейськими колегами."


@pytest.fixture(scope="module")
def tagger() -> LanguageTagger:
    return LanguageTagger()


def labelled(cls: str) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for lang in DEFAULT_LANGUAGES:
        lines = (FIXTURES / cls / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        texts += lines
        labels += [lang] * len(lines)
    return texts, labels


def test_sentences_all_correct(tagger):
    texts, labels = labelled("sentences")
    langs, _ = tagger.detect(texts)
    wrong = [(t, want, got) for t, want, got in zip(texts, labels, langs) if want != got]
    assert len(texts) == 160
    assert wrong == []


def test_word_pairs_at_least_95_percent(tagger):
    texts, labels = labelled("word-pairs")
    langs, _ = tagger.detect(texts)
    accuracy = sum(want == got for want, got in zip(labels, langs)) / len(texts)
    assert accuracy >= 0.95, accuracy


@pytest.mark.parametrize(
    "text",
    ["", "   ", "***", "🇷🇺🇧🇾", "@mid_rf", "https://t.me/MFARussia/25000", "12.06.2025 — 18:00", "👏3",
     "꧁─────꧂ㅤㅤ"],  # Hangul fillers are blank "letters" of decorations
)
def test_letterless_is_und(tagger, text):
    assert tagger.detect([text]) == (["und"], [0.0])


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Україна", "uk"),  # ї: only Ukrainian has it
        ("Дякую!", "uk"),  # a word only the Ukrainian list knows
        ("Спасибо!", "ru"),
        ("#Україна #Київ #війна", "uk"),  # hashtags only: their words are the text
        ("#РоссияБелоруссия #СоюзноеГосударство", "ru"),
        ("🇷🇺🇷🇺🇷🇺 Ура!!!", "ru"),
        ("Мы в Telegram: t.me/x | VK: vk.com/x", "ru"),  # links and brand names do not outvote "Мы в"
        ("Благодарам", "mk"),
    ],
)
def test_short_text_with_a_decisive_letter_or_word_is_tagged(tagger, text, lang):
    assert tagger.detect([text])[0] == [lang]


def test_short_text_without_evidence_is_und(tagger):
    # one letter that every Cyrillic language writes: nothing points anywhere
    assert tagger.detect(["А", "А?!", "F", "K P A C U B O"]) == (["und"] * 4, [0.0] * 4)
    # a single word fastText-lite guesses some other language for stays among the configured ones
    assert tagger.detect(["Ы"])[0][0] in DEFAULT_LANGUAGES + ("und",)


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Hearst відкликає ліцензію у російських версій Esquire, Elle, Men's Health…", "uk"),
        ("Міжнародні системи Western Union, MoneyGram… скасували плату", "uk"),
        ("Тобто мозок якраз AntiDusentaglement", "uk"),
        ("苹果发布了新款 iPhone 15 Pro Max 和 Apple Watch Ultra，售价 999 美元起", "zh"),  # 13 Han, 27 Latin letters
        ("Apple представила iOS 18 и Apple Intelligence", "ru"),
        ("Vladimir Putin met Xi Jinping in Beijing (Пекин), the Kremlin said.", "en"),
        ("The conference will be held in Moscow (Москва) on 15 June.", "en"),
    ],
)
def test_names_and_brands_do_not_outvote_running_text(tagger, text, lang):
    assert tagger.detect([text])[0] == [lang]


@pytest.mark.parametrize(
    "text, lang",
    [
        ("谢谢大家的支持，频道已经开通评论功能！", "zh"),
        ("قال رسول الله صلى الله عليه وسلم: إنما الأعمال بالنيات", "ar"),
        ("وَلَقَدْ نَعْلَمُ أَنَّكَ يَضِيقُ صَدْرُكَ بِمَا يَقُولُونَ", "ar"),  # with vowel marks (Persian without the fix)
        ("הממשלה אישרה היום את התקציב לשנה הבאה", "he"),
        ("Rząd przyjął projekt ustawy o podatku od nieruchomości.", "pl"),
        ("Die Bundesregierung hat heute neue Maßnahmen beschlossen.", "de"),
    ],
)
def test_languages_fasttext_knows_get_their_code(tagger, text, lang):
    langs, scores = tagger.detect([text])
    assert langs == [lang] and 0.5 <= scores[0] <= 1.0


def test_none_text_is_und(tagger):
    out = tag_posts(pl.DataFrame({"text": [None, RU_LINE]}, schema={"text": pl.Utf8}), tagger)
    assert out["lang"].to_list() == ["und", "ru"]
    assert out["lang_score"][0] == 0.0


def test_hashtags_urls_mentions_emoji_are_ignored(tagger):
    plain = "Сегодня президент выступил с обращением к гражданам"
    decorated = (
        "🇷🇺🔥 Сегодня президент выступил с обращением к гражданам 👉 #Breaking #WorldNews #UnitedKingdom "
        "https://www.example.com/english/news/president-speech-full-text @worldnewsenglish 2025"
    )
    langs, scores = tagger.detect([plain, decorated])
    assert langs == ["ru", "ru"]
    assert scores[0] == pytest.approx(scores[1])
    # only hashtags and a URL: the hashtags' words are all there is to judge, the URL's never count
    assert tagger.detect(["#Breaking #WorldNews https://example.com/english-news 🇬🇧"])[0] == ["en"]
    assert tagger.detect(["#новости https://example.com/english-news-of-the-day-in-full"])[0] == ["ru"]


def test_mixed_post_takes_language_of_most_letters(tagger):
    ru_quoting_en = f"{RU_LINE}\n«{EN_LINE}»\n{RU_LINE_2}"
    en_quoting_ru = f"{EN_LINE} The talks will continue next week in Geneva, officials said.\n«{RU_LINE_2}»\n{EN_LINE}"
    assert tagger.detect([ru_quoting_en, en_quoting_ru])[0] == ["ru", "en"]


def test_distinguishing_letters_and_latin_i_homoglyph(tagger):
    texts = [
        "Гадаю, що це тобі відомо",  # щ + і: lingua alone says Kazakh
        "Бiблiотека iменi Шевченка вiдкрита для читачiв",  # Latin i typed for Ukrainian і
        "Сёння ў Мінску адбылася сустрэча кіраўнікоў дзвюх дзяржаў",
        "Бүгін Астанада екі елдің басшылары кездесті",
    ]
    assert tagger.detect(texts)[0] == ["uk", "uk", "be", "kk"]


def test_languages_outside_the_configured_ones_are_fasttexts():
    tagger = LanguageTagger(languages=("ru", "en"))
    langs, scores = tagger.detect([UK_LINE, "Guten Tag, wie geht es Ihnen heute Abend in Berlin?", EN_LINE, RU_LINE])
    assert langs == ["uk", "de", "en", "ru"]
    assert scores[1] >= 0.9  # confidently German


def test_scores_in_unit_interval_and_deterministic(tagger):
    texts, _ = labelled("word-pairs")
    texts = texts + [RU_LINE, EN_LINE, UK_LINE, "***"]
    first = tagger.detect(texts)
    again = LanguageTagger().detect(texts)
    reversed_ = LanguageTagger().detect(texts[::-1])
    assert first == again
    assert first[0] == reversed_[0][::-1] and first[1] == reversed_[1][::-1]
    assert all(0.0 <= s <= 1.0 for s in first[1])
    assert all((s == 0.0) == (lang == "und") for lang, s in zip(*first))


def test_tag_posts_adds_typed_columns_and_keeps_rows(tagger):
    posts = pl.DataFrame({"post_id": [3, 1, 2, 4], "text": [RU_LINE, EN_LINE, "***", RU_LINE]})
    out = tag_posts(posts, tagger)
    assert out.columns == ["post_id", "text", "lang", "lang_score"]
    assert out.schema["lang"] == pl.Utf8 and out.schema["lang_score"] == pl.Float64
    assert out["post_id"].to_list() == [3, 1, 2, 4]
    assert out["lang"].to_list() == ["ru", "en", "und", "ru"]
    assert out["lang_score"][0] == out["lang_score"][3]


def paragraphs_of(posts: dict[int, list[str]]) -> pl.DataFrame:
    rows = [(pid, idx, text) for pid, lines in posts.items() for idx, text in enumerate(lines)]
    return pl.DataFrame(rows, schema={"post_id": pl.Int64, "idx": pl.Int64, "text": pl.Utf8}, orient="row")


def test_paragraphs_inherit_override_and_und(tagger):
    lines = {
        1: [RU_LINE, EN_LINE, "***", "🇷🇺🇧🇾", "#UnionState", RU_LINE_2, UK_LINE, "Читать полностью", "Read in full"],
        2: [EN_LINE, "Read in full", "Russia always keeps its word."],
    }
    paragraphs = paragraphs_of(lines)
    posts = tag_posts(pl.DataFrame({"post_id": [1, 2], "text": ["\n".join(v) for v in lines.values()]}), tagger)
    assert posts["lang"].to_list() == ["ru", "en"]
    out = tag_paragraphs(paragraphs, posts.select("post_id", "lang", "lang_score"), tagger)
    assert out.columns == ["post_id", "idx", "text", "lang", "lang_score"]
    assert out.select("post_id", "idx").equals(paragraphs.select("post_id", "idx"))
    got = dict(zip(zip(out["post_id"], out["idx"]), zip(out["lang"], out["lang_score"])))
    ru_score, en_score = posts["lang_score"].to_list()
    assert got[(1, 0)] == ("ru", ru_score)  # agrees with the post: inherits tag and score
    assert got[(1, 5)] == ("ru", ru_score)
    assert got[(1, 7)] == ("ru", ru_score)  # short but agreeing
    assert got[(1, 1)][0] == "en"  # Latin line in a Russian post: own detection
    assert got[(1, 6)][0] == "uk"  # і/ї/є in a Russian post: own detection
    assert got[(1, 8)][0] == "en"
    for idx in (2, 3):
        assert got[(1, idx)] == ("und", 0.0)  # no letters
    assert got[(1, 4)][0] == "en"  # a hashtag-only paragraph is judged on its words
    assert got[(2, 1)] == ("en", en_score)
    assert got[(2, 2)] == ("en", en_score)


def test_paragraphs_long_unmarked_text_in_ukrainian_post_is_checked(tagger):
    # A long paragraph without і/ї/є/ґ is unlikely Ukrainian: it gets its own detection.
    ru_without_foreign_letters = (
        "Президент провел встречу с министрами и губернаторами по вопросам развития дорожной сети в регионах"
    )
    lines = {7: [UK_LINE, UK_LINE.upper(), ru_without_foreign_letters]}
    posts = pl.DataFrame({"post_id": [7], "lang": ["uk"], "lang_score": [0.9]})
    out = tag_paragraphs(paragraphs_of(lines), posts, tagger)
    assert out["lang"].to_list() == ["uk", "uk", "ru"]
    assert out["lang_score"].to_list()[:2] == [0.9, 0.9]


def test_paragraphs_of_und_or_missing_posts_get_own_detection(tagger):
    paragraphs = paragraphs_of({1: [RU_LINE, "👍", "Дякую!"], 9: [EN_LINE]})
    posts = pl.DataFrame({"post_id": [1], "lang": ["und"], "lang_score": [0.0]})
    out = tag_paragraphs(paragraphs, posts, tagger)
    assert out["lang"].to_list() == ["ru", "und", "uk", "en"]


def test_paragraphs_follow_the_post_rules(tagger):
    lines = {
        1: [RU_LINE, "Дякую!", "#Україна #Київ", "Мы в Telegram: t.me/x | VK: vk.com/x", "Спасибо!"],
        2: ["苹果发布了新款 iPhone 15 Pro Max 和 Apple Watch Ultra，售价 999 美元起", "谢谢大家的支持！", "❕ Phoronix"],
    }
    posts = tag_posts(pl.DataFrame({"post_id": [1, 2], "text": ["\n".join(v) for v in lines.values()]}), tagger)
    assert posts["lang"].to_list() == ["ru", "zh"]
    out = tag_paragraphs(paragraphs_of(lines), posts.select("post_id", "lang", "lang_score"), tagger)
    assert out["lang"].to_list() == ["ru", "uk", "uk", "ru", "ru", "zh", "zh", "en"]


def test_paragraph_in_its_posts_script_changes_language_only_on_decisive_evidence(tagger):
    english = "The scholar explained that patience is rewarded and that hardship brings people closer to each other."
    lines = {3: [english, "Sharḥ Ṣaḥīḥ Muslim (7/239)", "Rząd przyjął projekt ustawy o podatku od nieruchomości."]}
    posts = pl.DataFrame({"post_id": [3], "lang": ["en"], "lang_score": [0.99]})
    out = tag_paragraphs(paragraphs_of(lines), posts, tagger)
    # a citation line fastText calls Italian at 0.6 stays English; a Polish line is Polish
    assert out["lang"].to_list() == ["en", "en", "pl"]


def test_real_style_posts_accuracy_und_and_calibration(tagger):
    from tgcorpus.evaluate import posts_langid_scores

    report = posts_langid_scores(tagger)
    assert report["n"] >= 200
    assert report["accuracy"] >= 0.97, report["errors"]
    assert report["und_share"] <= 0.03
    # calibrated: the share of right tags among those scored >= s grows with s (within one
    # post in 200 between neighbouring thresholds), and a score of 0.99 or more is never wrong
    accuracies = [row["accuracy"] for row in report["reliability"]]
    assert all(b >= a - 0.005 for a, b in zip(accuracies, accuracies[1:])), report["reliability"]
    assert accuracies[-1] > accuracies[0]
    assert not [e for e in report["errors"] if e["score"] >= 0.99], report["errors"]


def test_works_without_network():
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "from tasks.language.tag_language import LanguageTagger\n"
        "import tasks.language.tag_language as tl\n"
        "print(LanguageTagger().detect(['Сегодня хорошая погода в Москве', 'The weather is fine today',"
        " 'централната банка'])[0], tl._frequencies.cache_info().currsize)\n"  # a word pair reads the word lists
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['ru', 'en', 'bg'] 8"  # all 8 languages' lists looked up (be, kk: none)


def test_empty_frames(tagger):
    posts = tag_posts(pl.DataFrame({"post_id": [], "text": []}, schema={"post_id": pl.Int64, "text": pl.Utf8}), tagger)
    assert posts.height == 0 and posts.schema["lang"] == pl.Utf8 and posts.schema["lang_score"] == pl.Float64
    paragraphs = tag_paragraphs(paragraphs_of({}), posts.select("post_id", "lang", "lang_score"), tagger)
    assert paragraphs.height == 0 and paragraphs.columns[-2:] == ["lang", "lang_score"]
    assert tagger.detect([]) == ([], [])


def test_lexicon_evidence_is_log_probability_under_each_word_list():
    from tasks.language.tag_language import LEXICON_FLOOR, lexicon_evidence

    def best(text, langs=("ru", "uk", "bg", "sr", "mk")):
        evidence = lexicon_evidence(text, list(langs))
        return max(evidence, key=evidence.get)

    assert best("срещу") == "bg"  # Bulgarian preposition
    assert best("многу") == "mk"
    assert best("између") == "sr"  # Serbian Cyrillic read in wordfreq's Latin list
    assert best("Между нами") == "ru"  # upper case folded
    assert best("п’ять") == "uk"  # typographic apostrophe read as wordfreq's '
    floor = math.log(LEXICON_FLOOR)
    assert lexicon_evidence("моя", ["sr"]) == {"sr": floor}  # я is no Serbian letter: not read as "moja"
    assert lexicon_evidence("моја", ["sr"])["sr"] > floor
    assert lexicon_evidence("жыццё", ["be", "kk", "ru"]).keys() == {"ru"}  # no list of their own: no evidence
    assert lexicon_evidence("и на за по", ["ru"])["ru"] < 0


def test_lexicon_tells_south_slavic_word_pairs(tagger, monkeypatch):
    import tasks.language.tag_language as tl

    texts, labels = [], []
    for path in sorted((FIXTURES / "lexicon").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        texts += lines
        labels += [path.stem] * len(lines)
    assert len(texts) >= 30 and {"bg", "sr", "mk"} <= set(labels)
    assert tagger.detect(texts)[0] == labels
    monkeypatch.setattr(tl, "LEXICON_WEIGHT", 0.0)  # without word frequencies all of them go wrong
    langs = LanguageTagger().detect(texts)[0]
    assert all(want != got for want, got in zip(labels, langs))

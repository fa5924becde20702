"""Score the pipeline against gold labels: `tgcorpus eval` and the scripts in bench/.

A gold.jsonl has one line per post occurrence in a folder of generated dumps, as written
by `tgcorpus synth` and by other generators (make_corpus.py): file, line_start, line_end
(1-based, inclusive), uid (same uid = same text), text or title + body, and optionally
near_of (uid of the post this one was edited from), translation_of (uid of the post this
one translates) and lang. Language files are <class>/<lang>.txt, one text a line.

`evaluate_corpus` runs the ingest flow's own task functions in-process, in the flow's
order (read, split, collapse, dedupe, tag, relate), without Prefect and without writing
a dataset, and scores what they produce.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from tasks.parsing.collapse_copies import collapse_copies
from tasks.relate.find_near_duplicates import cluster_ids
from tasks.reading.read_source import NotADump, lines_frame, read_source
from tasks.parsing.split_posts import split_posts

KEY = ["file", "line_start", "line_end"]
GOLD_SCHEMA = {"file": pl.Utf8, "line_start": pl.Int64, "line_end": pl.Int64, "uid": pl.Utf8, "text": pl.Utf8}
# Columns only some gold files have: read_gold keeps them only when some record has them.
OPTIONAL_GOLD = {"near_of": pl.Utf8, "translation_of": pl.Utf8, "lang": pl.Utf8}
LANGID_CLASSES = ("sentences", "word-pairs", "single-words")


class EvalError(ValueError):
    """A gold, dump or language file that cannot be used: a one-line message."""


# --------------------------------------------------------------------------------------
# Gold and parsing
# --------------------------------------------------------------------------------------

def _text_or_none(value) -> str | None:
    return None if value is None else str(value)


def read_gold(path: Path) -> pl.DataFrame:
    """KEY, uid, text, and those of near_of, translation_of, lang that the file has."""
    rows, present = [], set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise EvalError(f"cannot read gold file {path}: {getattr(err, 'strerror', None) or err}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = record.get("text") or "\n".join([record["title"], *record.get("body", [])])
            row = {"file": str(record["file"]), "line_start": int(record["line_start"]),
                   "line_end": int(record["line_end"]), "uid": str(record["uid"]), "text": text}
        except KeyError as err:
            raise EvalError(f"{path}:{number}: not a gold record (no {err.args[0]!r} field)") from None
        except (ValueError, TypeError, AttributeError) as err:
            raise EvalError(f"{path}:{number}: not a gold record ({type(err).__name__}: {err})") from None
        present |= record.keys() & OPTIONAL_GOLD.keys()
        rows.append(row | {k: _text_or_none(record.get(k)) for k in OPTIONAL_GOLD})
    if not rows:
        raise EvalError(f"{path}: no gold records")
    columns = [*GOLD_SCHEMA, *(k for k in OPTIONAL_GOLD if k in present)]
    return pl.DataFrame(rows, schema=GOLD_SCHEMA | OPTIONAL_GOLD).select(columns)


def read_lines(folder: Path, names: list[str]) -> pl.DataFrame:
    """The flow's read step for text captures: the lines of the named dumps."""
    frames = []
    for name in names:
        try:
            frames.append(lines_frame(name, read_source(folder / name).lines))
        except NotADump as err:
            raise EvalError(f"{folder / name}: {err}") from None
        except OSError as err:
            raise EvalError(f"cannot read {folder / name}: {err.strerror or err}") from None
    return pl.concat(frames)


def collapsed(lines: pl.DataFrame, max_copy_misses: int = 2) -> pl.DataFrame:
    """The flow's split and collapse steps: post occurrences (with `source_file`)."""
    return collapse_copies(split_posts(lines, max_copy_misses))


def parse_folder(folder: Path, names: list[str], max_copy_misses: int = 2) -> pl.DataFrame:
    """Post occurrences of the named dumps, `source_file` called `file` as in the gold."""
    return collapsed(read_lines(folder, names), max_copy_misses).rename({"source_file": "file"})


def pair_count(sizes: pl.Expr) -> pl.Expr:
    return (sizes * (sizes - 1) // 2).sum()


def prf(hits: int, found: int, gold: int) -> dict:
    """Precision, recall, F1 of `found` answers of which `hits` are right, `gold` true ones."""
    precision = hits / found if found else 1.0
    recall = hits / gold if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# --------------------------------------------------------------------------------------
# Splitter and exact duplicates
# --------------------------------------------------------------------------------------

def split_scores(gold: pl.DataFrame, found: pl.DataFrame, dump_lines: int | None = None) -> dict:
    """Occurrences whose line range the splitter found exactly (and with the gold text),
    and how many of the gold occurrences' lines lie in such occurrences."""
    matched = gold.join(found.select(*KEY, "post_id", found_text="text"), on=KEY, how="inner")
    exact = matched.filter(pl.col("text") == pl.col("found_text"))
    length = (pl.col("line_end") - pl.col("line_start") + 1).sum()
    gold_lines = gold.select(length).item()
    return {
        "gold_occurrences": gold.height,
        "found_occurrences": found.height,
        "range_found": matched.height,
        "range_and_text_found": exact.height,
        "split_accuracy": matched.height / gold.height,
        "text_accuracy": exact.height / gold.height,
        "dump_lines": dump_lines,
        "gold_lines": gold_lines,
        "lines_accounted": matched.select(length).item() or 0,
        "found_lines": found.select(length).item() or 0,
    }


def exact_duplicate_scores(gold: pl.DataFrame, found: pl.DataFrame) -> dict:
    """Pairs of occurrences sharing a post_id against pairs sharing a gold uid; a found
    pair is right when both occurrences have their gold range and the same uid."""
    matched = gold.join(found.select(*KEY, "post_id"), on=KEY, how="inner")
    gold_pairs = gold.group_by("uid").len().select(pair_count(pl.col("len"))).item()
    found_pairs = found.group_by("post_id").len().select(pair_count(pl.col("len"))).item()
    hits = matched.group_by("uid", "post_id").len().select(pair_count(pl.col("len"))).item()
    return prf(hits, found_pairs, gold_pairs) | {"gold_pairs": gold_pairs, "found_pairs": found_pairs,
                                                 "correct_pairs": hits}


def score_split(folder: Path, gold_path: Path) -> dict:
    """Splitter and exact dedup only (bench/split_eval.py); misses: up to 20 gold rows."""
    gold = read_gold(gold_path)
    lines = read_lines(folder, sorted(gold["file"].unique()))
    found = collapsed(lines).rename({"source_file": "file"})
    duplicates = exact_duplicate_scores(gold, found)
    right = gold.join(found.select(*KEY, found_text="text"), on=KEY).filter(pl.col("text") == pl.col("found_text"))
    return split_scores(gold, found, lines.height) | {f"duplicate_{k}": v for k, v in duplicates.items()} | {
        "misses": gold.join(right.select(KEY), on=KEY, how="anti").select(*GOLD_SCHEMA).head(20).to_dicts(),
    }


# --------------------------------------------------------------------------------------
# Near-duplicates
# --------------------------------------------------------------------------------------

def components(edges: pl.DataFrame) -> pl.DataFrame:
    """node → component of an undirected graph given as (post_id, other_post_id) edges."""
    nodes = pl.concat([edges["post_id"], edges["other_post_id"]]).unique().sort()
    return cluster_ids(pl.DataFrame({"post_id": nodes, "first_seen": pl.int_range(len(nodes), eager=True)}),
                       edges)


def gold_clusters(gold: pl.DataFrame, occurrences: pl.DataFrame, posts: pl.DataFrame) -> pl.DataFrame:
    """post_id → gold cluster for `posts`: components of the graph linking a post to the
    uids of its occurrences and a uid to its `near_of` uid."""
    uids = occurrences.join(gold, on=KEY).select("post_id", other_post_id="uid").unique()
    near = (gold.drop_nulls("near_of").select(post_id="uid", other_post_id="near_of").unique()
            if "near_of" in gold.columns else uids.head(0))
    return components(pl.concat([uids, near])).join(posts.select("post_id"), on="post_id")


def pairwise_scores(found: pl.DataFrame, gold: pl.DataFrame) -> dict:
    """Both frames: post_id → cluster_id over the same posts; pairs of posts in one cluster."""
    both = found.join(gold, on="post_id", suffix="_gold")
    gold_pairs = gold.group_by("cluster_id").len().select(pair_count(pl.col("len"))).item()
    found_pairs = found.group_by("cluster_id").len().select(pair_count(pl.col("len"))).item()
    hits = both.group_by("cluster_id", "cluster_id_gold").len().select(pair_count(pl.col("len"))).item()
    return prf(hits, found_pairs, gold_pairs) | {"gold_pairs": gold_pairs, "found_pairs": found_pairs,
                                                 "correct_pairs": hits}


# --------------------------------------------------------------------------------------
# Translations
# --------------------------------------------------------------------------------------

def translation_scores(gold: pl.DataFrame, occurrences: pl.DataFrame, found: pl.DataFrame) -> dict:
    """Gold pairs (a post and the post its `translation_of` names, mapped to post_ids
    through line ranges) against the found (post_id, other_post_id) pairs, unordered.
    A uid none of whose occurrences was found has no post_id: its pair counts as missed."""
    uid_post = (gold.join(occurrences.select(*KEY, "post_id"), on=KEY)
                .unique("uid", keep="first").select("uid", "post_id"))
    gold_pairs = (
        gold.filter(pl.col("translation_of").is_not_null()).unique("uid")
        .join(uid_post, on="uid", how="left")
        .join(uid_post.rename({"uid": "translation_of", "post_id": "original_post_id"}),
              on="translation_of", how="left")
    )
    truth = {frozenset(pair) for pair in gold_pairs.select("original_post_id", "post_id").iter_rows()}
    linked = {frozenset(pair) for pair in found.select("post_id", "other_post_id").iter_rows()}
    hits = len(truth & linked)
    return prf(hits, len(linked), len(truth)) | {"gold_pairs": len(truth), "found_pairs": len(linked),
                                                 "correct_pairs": hits}


# --------------------------------------------------------------------------------------
# Languages
# --------------------------------------------------------------------------------------

def per_language(preds: list[str], labels: list[str], languages=None) -> dict[str, dict]:
    """label → accuracy (an 'und' answer is wrong), und share, n; in `languages` order."""
    stats = {}
    for lang in languages or sorted(set(labels)):
        idx = [i for i, label in enumerate(labels) if label == lang]
        if idx:
            stats[lang] = {"accuracy": sum(preds[i] == lang for i in idx) / len(idx),
                           "und": sum(preds[i] == "und" for i in idx) / len(idx), "n": len(idx)}
    return stats


def macro(stats: dict[str, dict]) -> dict:
    accs = [s["accuracy"] for s in stats.values()]
    return {"accuracy": sum(accs) / len(accs), "min": min(accs),
            "und": sum(s["und"] for s in stats.values()) / len(accs), "n": sum(s["n"] for s in stats.values())}


def load_langid(root: Path, cls: str, languages: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Texts and labels of root/<cls>/<lang>.txt for the given languages (missing files skipped)."""
    texts, labels = [], []
    for lang in languages:
        path = root / cls / f"{lang}.txt"
        if path.exists():
            try:
                lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as err:
                raise EvalError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
            texts += lines
            labels += [lang] * len(lines)
    return texts, labels


def langid_scores(root: Path, tagger, classes: tuple[str, ...] = LANGID_CLASSES) -> dict:
    """class → {"languages": per-language stats, "macro": ...} for `tagger.detect`."""
    report = {}
    for cls in classes:
        texts, labels = load_langid(root, cls, tagger.languages)
        if texts:
            started = time.perf_counter()
            stats = per_language(tagger.detect(texts)[0], labels, tagger.languages)
            report[cls] = {"languages": stats, "macro": macro(stats),
                           "texts_per_s": len(texts) / (time.perf_counter() - started)}
    return report


def langid_dir_problem(root: Path, languages: tuple[str, ...], classes=LANGID_CLASSES) -> str | None:
    if not root.is_dir():
        return f"--langid {root} is not a folder"
    if not any((root / cls / f"{lang}.txt").is_file() for cls in classes for lang in languages):
        return (f"--langid {root} has no <class>/<lang>.txt files (classes {', '.join(classes)}; "
                f"languages {', '.join(languages)})")
    return None


# --------------------------------------------------------------------------------------
# The whole evaluation
# --------------------------------------------------------------------------------------

def run_steps(folder: Path, names: list[str], config, tagger) -> dict:
    """The ingest flow's steps on text captures, as plain functions on one batch into an
    empty dataset: number of lines, occurrences (with is_duplicate), posts (with lang and
    cluster_id), relations."""
    from flows.sources import with_capture_fields  # imports Prefect; runs no flow
    from tasks.messages.dedupe_exact import mark_duplicates
    from tasks.relate.relate_posts import relate_posts
    from tasks.language.tag_language import tag_posts

    lines = read_lines(folder, names)
    # No capture times here: sightings count in file name order, as the gold's.
    occurrences = mark_duplicates(with_capture_fields(collapsed(lines, config.max_copy_misses), []).with_columns(
        captured_at=pl.lit(None, pl.Datetime("us", "UTC"))
    ))
    posts = tag_posts(occurrences.filter(~pl.col("is_duplicate")), tagger)
    related = relate_posts(posts, params=config.relate)
    return {"lines": lines.height, "occurrences": occurrences.rename({"source_file": "file"}),
            "posts": related.posts, "relations": related.relations}


def gold_languages(gold: pl.DataFrame, occurrences: pl.DataFrame, posts: pl.DataFrame,
                   languages: tuple[str, ...]) -> dict:
    """Per gold language, over distinct gold posts (uids) whose occurrence was found: the
    tagger's `lang` of the post against the gold `lang`."""
    tagged = (gold.drop_nulls("lang").join(occurrences.select(*KEY, "post_id"), on=KEY)
              .unique("uid", keep="first")
              .join(posts.select("post_id", found_lang="lang"), on="post_id").sort("uid"))
    labels = tagged["lang"].to_list()
    order = [lang for lang in languages if lang in labels] + sorted(set(labels) - set(languages))
    stats = per_language(tagged["found_lang"].to_list(), labels, order)
    return {"languages": stats, "macro": macro(stats)} if stats else {}


def evaluate_corpus(folder: Path, gold_path: Path, langid: Path | None = None, config=None) -> dict:
    """Every score `tgcorpus eval` prints, as one JSON-ready dict."""
    from tasks.language.tag_language import LanguageTagger
    from flows.config import Config

    config = config or Config()
    started = time.perf_counter()
    gold = read_gold(gold_path)
    names = sorted(gold["file"].unique())
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise EvalError(f"{len(missing)} dump file(s) named in {gold_path} are not in {folder}, "
                        f"e.g. {missing[0]}")
    tagger = LanguageTagger(languages=config.languages, min_letters=config.min_letters)
    steps = run_steps(folder, names, config, tagger)
    occurrences, posts = steps["occurrences"], steps["posts"]
    kinds = steps["relations"]["kind"]
    report = {
        "corpus": str(folder),
        "gold": str(gold_path),
        "gold_fields": [c for c in OPTIONAL_GOLD if c in gold.columns],
        "files": len(names),
        "posts": posts.height,
        "split": split_scores(gold, occurrences, steps["lines"]),
        "exact_duplicates": exact_duplicate_scores(gold, occurrences),
        "near_duplicates": pairwise_scores(posts.select("post_id", "cluster_id"),
                                           gold_clusters(gold, occurrences, posts))
        if "near_of" in gold.columns else None,
        "translations": translation_scores(gold, occurrences, steps["relations"].filter(kinds == "translation"))
        if "translation_of" in gold.columns else None,
        "languages": (gold_languages(gold, occurrences, posts, config.languages) or None)
        if "lang" in gold.columns else None,
        "langid": None,
        "posts_langid": posts_langid_scores(tagger),
    }
    if langid is not None:
        report["langid"] = {"dir": str(langid), "min_letters": tagger.min_letters,
                            "classes": langid_scores(langid, tagger)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


# --------------------------------------------------------------------------------------
# The printed report
# --------------------------------------------------------------------------------------

def _prf_line(name: str, s: dict, what: str) -> str:
    return (f"{name:<14}P {s['precision']:.4f}  R {s['recall']:.4f}  F1 {s['f1']:.4f}   "
            f"({s['correct_pairs']} of {s['found_pairs']} found {what} right; {s['gold_pairs']} in gold)")


def format_report(r: dict) -> str:
    split = r["split"]
    lines = [
        f"corpus        {r['corpus']}: {r['files']} files, {split['gold_occurrences']} gold occurrences, "
        f"{r['posts']} distinct posts found",
        f"gold          {r['gold']} (optional fields: {', '.join(r['gold_fields']) or 'none'})",
        f"split         accuracy {split['split_accuracy']:.4f}   ({split['range_found']} of "
        f"{split['gold_occurrences']} line ranges exact, {split['range_and_text_found']} with the gold text; "
        f"{split['found_occurrences']} found)",
        f"lines         {split['lines_accounted']} of {split['gold_lines']} gold post lines in exactly "
        f"split occurrences; {split['dump_lines']} lines in the dumps, "
        f"{split['dump_lines'] - split['found_lines']} of them in no post found",
        _prf_line("exact dups", r["exact_duplicates"], "occurrence pairs"),
    ]
    for key, name, what in (("near_duplicates", "near dups", "post pairs"),
                            ("translations", "translations", "links")):
        lines.append(_prf_line(name, r[key], what) if r[key] else f"{name:<14}n/a (no "
                     f"{'near_of' if key == 'near_duplicates' else 'translation_of'} in the gold)")
    if r["languages"]:
        per = ", ".join(f"{lang} {s['accuracy']:.4f} (n={s['n']})" for lang, s in r["languages"]["languages"].items())
        lines.append(f"{'languages':<14}{per}   (tagger vs gold lang, per distinct post)")
    if r["langid"]:
        classes = r["langid"]["classes"]
        langs = list(dict.fromkeys(lang for c in classes.values() for lang in c["languages"]))
        lines += ["", f"language tagger on {r['langid']['dir']} (min_letters={r['langid']['min_letters']}): "
                  "accuracy % per language ('und' counts as wrong)",
                  f"{'class':<14}{'n':>6}" + "".join(f"{lang:>7}" for lang in langs) + f"{'macro':>8}{'und%':>7}"]
        for cls, c in classes.items():
            cells = "".join(f"{c['languages'][lang]['accuracy'] * 100:>7.1f}" if lang in c["languages"]
                            else f"{'-':>7}" for lang in langs)
            lines.append(f"{cls:<14}{c['macro']['n']:>6}{cells}{c['macro']['accuracy'] * 100:>8.2f}"
                         f"{c['macro']['und'] * 100:>7.1f}")
    lines += _posts_langid_lines(r["posts_langid"])
    lines.append(f"\n{r['seconds']:.1f} s (the flow's task functions run in-process: no Prefect run, no dataset written)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Labelled real-style posts
# --------------------------------------------------------------------------------------

POSTS_LANGID = Path(__file__).parent / "resources" / "langid_posts.tsv"
# lang_score thresholds of the reliability table: the share of right tags among those
# scored at or above each must grow with it for the score to be usable as a filter.
RELIABILITY_THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)


def load_labelled_posts(path: Path = POSTS_LANGID) -> tuple[list[str], list[str]]:
    """Texts and labels of a lang<TAB>text file ('#' lines are comments, "\\n" a line break)."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            labels.append(label)
            texts.append(text.replace("\\n", "\n"))
    return texts, labels


def posts_langid_scores(tagger, path: Path = POSTS_LANGID) -> dict:
    """Accuracy, und share among posts with letters, the reliability of lang_score and the
    errors of `tagger` on labelled posts."""
    texts, labels = load_labelled_posts(path)
    langs, scores = tagger.detect(texts)
    frame = pl.DataFrame({"text": texts, "label": labels, "lang": langs, "score": scores})
    frame = frame.with_columns(right=pl.col("lang") == pl.col("label"),
                               has_letters=pl.col("text").str.contains(r"\p{L}"))
    with_letters = frame.filter("has_letters")
    reliability = []
    for threshold in RELIABILITY_THRESHOLDS:
        tagged = frame.filter((pl.col("lang") != "und") & (pl.col("score") >= threshold))
        reliability.append({"min_score": threshold, "n": tagged.height,
                            "accuracy": tagged["right"].mean() if tagged.height else None})
    return {
        "file": str(path),
        "n": frame.height,
        "accuracy": frame["right"].mean(),
        "with_letters": with_letters.height,
        "und_share": (with_letters["lang"] == "und").mean() if with_letters.height else 0.0,
        "languages": per_language(langs, labels),
        "reliability": reliability,
        "errors": frame.filter(~pl.col("right")).select("label", "lang", "score", "text").to_dicts(),
    }


def _posts_langid_lines(p: dict) -> list[str]:
    lines = ["", f"real-style posts {p['n']} labelled ({p['file']}): language accuracy "
             f"{p['accuracy'] * 100:.1f}%, und {p['und_share'] * 100:.1f}% of the {p['with_letters']} posts with letters",
             "reliability   lang_score >= " + "".join(f"{row['min_score']:>7}" for row in p["reliability"]),
             f"{'':<14}tags          " + "".join(f"{row['n']:>7}" for row in p["reliability"]),
             f"{'':<14}right %       " + "".join(f"{row['accuracy'] * 100:>7.1f}" if row["accuracy"] is not None
                                                 else f"{'-':>7}" for row in p["reliability"])]
    lines += [f"  wrong: {e['label']} tagged {e['lang']} ({e['score']:.2f}): {e['text'][:70]!r}" for e in p["errors"]]
    return lines

"""Evaluate the language tagger against labelled text files, with fastText-lite and lingua as baselines.

Usage: python bench/langid_eval.py DIR [--classes sentences,word-pairs,single-words]

DIR holds <class>/<lang>.txt files, one text a line, the file name being the label (e.g. the
lingua test data). Prints, per length class and language: accuracy (an 'und' answer counts as
wrong), 'und' share and n for the tagger (its default min_letters), fastText-lite alone and
lingua alone (both restricted to the tagger's languages), then a summary with throughput and
how min_letters changes accuracy and 'und' share of the short classes. The tagger's
scoring is tgcorpus/evaluate.py's (`tgcorpus eval --langid DIR` prints it); this script
adds the baselines, throughput and the min_letters sweep.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tasks.language.tag_language import LanguageTagger, fasttext_detector, lingua_detector
from tgcorpus.evaluate import LANGID_CLASSES, load_langid, macro, per_language


def fasttext_alone(texts: list[str], languages: tuple[str, ...]) -> list[str]:
    detector = fasttext_detector()
    out = []
    for text in texts:
        ranked = detector.detect(text.replace("\n", " "), k=176)
        out.append(next((r["lang"] for r in ranked if r["lang"] in languages), "und"))
    return out


def lingua_alone(texts: list[str], languages: tuple[str, ...]) -> list[str]:
    found = lingua_detector(languages).detect_languages_in_parallel_of(texts)
    return [lang.iso_code_639_1.name.lower() if lang else "und" for lang in found]


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="folder with <class>/<lang>.txt files")
    parser.add_argument("--classes", default=",".join(LANGID_CLASSES))
    args = parser.parse_args()

    tagger = LanguageTagger()
    languages = tagger.languages
    tagger.detect(["прогрев моделей", "warm up the models"])  # load models outside the timings
    lingua_alone(["прогрев"], languages)

    systems = ("tagger", "fasttext", "lingua")
    summary = []
    print(f"{'class':<13}{'lang':<5}{'n':>6}" + "".join(f"{s + ' acc':>14}{'und':>7}" for s in systems))
    for cls in args.classes.split(","):
        texts, labels = load_langid(args.dir, cls, languages)
        if not texts:
            continue
        runs = {
            "tagger": timed(lambda t: tagger.detect(t)[0], texts),
            "fasttext": timed(fasttext_alone, texts, languages),
            "lingua": timed(lingua_alone, texts, languages),
        }
        stats = {name: per_language(preds, labels, languages) for name, (preds, _) in runs.items()}
        for lang in stats["tagger"]:
            row = f"{cls:<13}{lang:<5}{stats['tagger'][lang]['n']:>6}"
            row += "".join(f"{stats[s][lang]['accuracy'] * 100:>14.1f}{stats[s][lang]['und'] * 100:>7.1f}"
                           for s in systems)
            print(row)
        for name, (preds, seconds) in runs.items():
            avg = macro(stats[name])
            summary.append(
                f"{cls:<13}{name:<9}{avg['accuracy'] * 100:>7.2f}{avg['min'] * 100:>7.1f}"
                f"{avg['und'] * 100:>7.1f}{len(texts) / seconds:>9.0f}"
            )
    print(f"\nmacro averages over languages (min_letters={tagger.min_letters})")
    print(f"{'class':<13}{'system':<9}{'acc':>7}{'min':>7}{'und%':>7}{'texts/s':>9}")
    print("\n".join(summary))

    print("\nmin_letters sensitivity (tagger; acc counts 'und' as wrong; acc|decided excludes it)")
    print(f"{'class':<13}{'min_letters':>11}{'acc':>7}{'und%':>7}{'acc|decided':>13}")
    for cls in ("word-pairs", "single-words"):
        texts, labels = load_langid(args.dir, cls, languages)
        if not texts:
            continue
        for min_letters in sorted({1, 6, 8, 10, 12, 15, tagger.min_letters}):
            preds = LanguageTagger(languages, min_letters=min_letters).detect(texts)[0]
            stats = per_language(preds, labels, languages)
            avg = macro(stats)
            acc, und = avg["accuracy"], avg["und"]
            decided = [s["accuracy"] / (1 - s["und"]) for s in stats.values() if s["und"] < 1]
            decided = sum(decided) / max(1, len(decided))
            print(f"{cls:<13}{min_letters:>11}{acc * 100:>7.2f}{und * 100:>7.1f}{decided * 100:>13.2f}")


if __name__ == "__main__":
    main()

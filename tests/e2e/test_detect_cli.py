"""`tgcorpus detect`: the pipeline's tagger on standard input, one line per text."""
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from tasks.language.tag_language import LanguageTagger
from flows.config import Config

SENTENCES = ROOT / "tests" / "fixtures" / "langid" / "sentences"


def test_detect_tags_each_line_like_the_pipeline():
    labelled = [(path.stem, line) for path in sorted(SENTENCES.glob("*.txt"))
                for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [text for _, text in labelled] + ["***", "@mid_rf 🇷🇺"]
    result = subprocess.run([str(Path(sys.executable).with_name("tgcorpus")), "detect"], input="\n".join(texts),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == len(texts)
    assert [lang for lang, _ in rows[:-2]] == [label for label, _ in labelled]
    assert rows[-2:] == [["und", "0.0000"], ["und", "0.0000"]]
    config = Config()
    langs, scores = LanguageTagger(config.languages, config.min_letters).detect(texts)
    assert [lang for lang, _ in rows] == langs
    assert [float(score) for _, score in rows] == [round(s, 4) for s in scores]

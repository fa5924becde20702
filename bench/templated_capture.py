"""Write a text capture of templated posts: the input that made near-duplicate search quadratic.

    python bench/templated_capture.py OUT.txt [--posts 5000]

Every post is one template with a city, a temperature and a wind filled in, in the
capture format of /work/shared/FORMAT.md (title line, body, the body again, a reaction
line):

    Weather for Kazan: 14 degrees
    Tomorrow in Kazan expect 14 degrees and a light north wind.
    Tomorrow in Kazan expect 14 degrees and a light north wind.
    👍3

Posts differ in a word or two, so thousands of them share LSH buckets. Each
(city, temperature, wind) is used once, so every post is a distinct post.
Deterministic: the same arguments write the same bytes. 5,000 posts are about 0.7 MB.
"""
import argparse
from itertools import product
from pathlib import Path

CITIES = [
    "Moscow", "Kazan", "Samara", "Omsk", "Tomsk", "Perm", "Ufa", "Sochi", "Tver", "Tula",
    "Kursk", "Orel", "Penza", "Kirov", "Chita", "Minsk", "Brest", "Grodno", "Vitebsk", "Gomel",
    "Pskov", "Vologda", "Ryazan", "Kaluga", "Bryansk", "Smolensk", "Lipetsk", "Tambov", "Saratov", "Astrakhan",
    "Izhevsk", "Kurgan", "Tyumen", "Barnaul", "Irkutsk", "Yakutsk", "Magadan", "Norilsk", "Murmansk", "Vyborg",
]
TEMPERATURES = range(-40, 46)
WINDS = ["north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"]


def templated_post(city: str, degrees: int, wind: str, reactions: int) -> str:
    body = f"Tomorrow in {city} expect {degrees} degrees and a light {wind} wind."
    return f"Weather for {city}: {degrees} degrees\n{body}\n{body}\n👍{reactions}\n"


def templated_capture(posts: int) -> str:
    combos = list(product(WINDS, TEMPERATURES, CITIES))  # consecutive posts: other cities
    if posts > len(combos):
        raise ValueError(f"at most {len(combos)} distinct posts")
    return "".join(templated_post(city, degrees, wind, 1 + i % 9)
                   for i, (wind, degrees, city) in enumerate(combos[:posts]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--posts", type=int, default=5000)
    args = parser.parse_args()
    args.out.write_text(templated_capture(args.posts), encoding="utf-8")


if __name__ == "__main__":
    main()

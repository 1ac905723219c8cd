"""Generate ``collapse_otel/text/english_words.txt.gz``: English words that are never names.

Source: SCOWL's American English word list as Debian packages it (``wamerican``,
``/usr/share/dict/american-english``; Kevin Atkinson et al., a permissive licence, see
``collapse_otel/text/english_words.LICENSE``). The list spells proper nouns with their capital
("Bush", "Apple", "Jordan") and common words in lower case ("hackers", "homeopathy").

Kept: ASCII alphabetic words written in lower case whose capitalised form is not also listed
(so "bush", "apple", "jordan" are left out: they can be names). The extractor uses them for
one capitalised word opening a sentence ("Hackers attack ...", "Homeopathy is ..."): no name
there unless the same text uses it as a name mid-sentence.

Run ``python -m benchmarks.gen_english_words [path]`` (``apt-get install wamerican``); the
output is byte-for-byte reproducible (gzip without a time stamp).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

SOURCE = Path("/usr/share/dict/american-english")
TARGET = Path(__file__).resolve().parents[1] / "collapse_otel" / "text" / "english_words.txt.gz"


def never_names(lines: list[str]) -> list[str]:
    listed = {w.strip() for w in lines if w.strip()}
    return sorted(w for w in listed
                  if w.isascii() and w.isalpha() and w.islower() and w.capitalize() not in listed)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else SOURCE
    words = never_names(source.read_text(encoding="utf-8").splitlines())
    TARGET.write_bytes(gzip.compress(("\n".join(words) + "\n").encode("ascii"), 9, mtime=0))
    print(f"{TARGET.name}: {len(words)} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

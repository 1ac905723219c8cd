"""Build tests/data/ner/gum-news-{dev,test}.conll from the news documents of the GUM corpus.

GUM (Zeldes 2017) annotates every referring expression in 24 Wikinews articles with its entity
type and minimal head tokens, on Universal Dependencies trees; its news part is CC BY (texts: CC
BY 2.5 from Wikinews; annotations: CC BY 4.0). It has no flat NER layer, so names are read off
those gold layers with the CoNLL-2003 notion of a name:

- a name is a mention whose head is a proper noun (Penn tag NNP or NNPS, which GUM gives every
  word of a name: "New", "United"), of any type but time and quantity (dates, weekdays and
  amounts are not names in CoNLL-2003);
- its span is the run of proper nouns around the head inside the mention, joined through the
  one or two lower-case words and hyphens that sit inside names ("Bank of America", "Intrepid
  Sea-Air-Space Museum", "National Air and Space Museum", but not "Bob and Alice", two
  mentions), and through a number closing the mention ("Apollo 11", "STS-1"); a hyphenated
  compound of capitalised parts is one word ("Make-A-Wish Foundation");
- titles before a name are not part of it ("Senator John Cornyn" -> "John Cornyn"), as in the
  CoNLL-2003 and MUC guidelines;
- a name inside a longer name is not a second name ("America" in "Bank of America");
- a mention linked to a Wikipedia article whose title it spells out holds that name even where
  the proper-noun tag is missing ("Facebook co-founder Mark Zuckerberg", "India, where ...").

Run: ``python -m benchmarks.gen_news_ner DIR`` where DIR holds the GUM_*.conllu files of
UniversalDependencies/UD_English-GUM (not-to-release/sources/). The news split is by document:
GUM's own dev and test news documents, and the others alternately in sorted order.

A larger tuning set, ``gum-wikimedia-dev.conll``, is read the same way from GUM's other
openly licensed Wikimedia genres: Wikinews interviews, Wikipedia biographies and Wikivoyage
travel guides (every document of the three). Tuning on it keeps the news test set unseen, and
on three times the text of news dev, rules that only fit a dozen articles show up.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "ner"
# GUM's own split puts these news documents in dev and test; the other 20 are its train part.
GUM_DEV = ("GUM_news_homeopathic", "GUM_news_iodine")
GUM_TEST = ("GUM_news_nasa", "GUM_news_sensitive")
#: GUM's Wikimedia genres besides news (Wikinews interviews, Wikipedia, Wikivoyage): the
#: larger tuning set.
WIKIMEDIA_GENRES = ("interview", "bio", "voyage")
_NOT_NAMES = frozenset({"time", "quantity"})
_INSIDE = frozenset({"of", "the", "de", "du", "del", "della", "da", "la", "le", "von", "van",
                     "der", "for", "&", "-", "'n'", "y"})
_NOT_IN_PERSONS = frozenset({"of", "the", "for", "&", "and"})
_TITLES = frozenset(
    """mr mr. mrs mrs. ms ms. dr dr. prof prof. sir dame lord lady president vice senator sen.
    representative rep. congressman congresswoman governor gov. mayor minister premier
    chancellor secretary general gen. admiral colonel col. captain capt. lieutenant lt.
    sergeant sgt. major commander chief judge justice king queen prince princess pope
    archbishop bishop cardinal reverend rev. father sister brother administrator
    director chairman chairwoman ceo spokesman spokeswoman officer agent detective professor
    ambassador commissioner councillor councilor sheriff emperor empress sheikh ayatollah
    pastor rabbi imam coach prime minister""".split()  # noqa: SIM905
)
_ENTITY = re.compile(r"\((\d+)-([^()|]*)(\))?|(\d+)\)")


def read_conllu(path: Path) -> list[list[dict]]:
    """Sentences of a CoNLL-U file: per token its form, UPOS, space after and entity brackets."""
    sentences: list[list[dict]] = []
    current: list[dict] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if "-" in cols[0] or "." in cols[0]:  # multi-word token ranges and empty nodes
            continue
        misc = dict(p.split("=", 1) for p in cols[9].split("|") if "=" in p)
        current.append({"form": cols[1], "upos": cols[3], "xpos": cols[4],
                        "space": misc.get("SpaceAfter") != "No",
                        "entity": misc.get("Entity", "")})
    return sentences


def mentions(sentence: list[dict]) -> list[tuple[int, int, str, list[int], str]]:
    """(start, end, type, head token indices, Wikipedia title or "") of every GUM mention."""
    out = []
    open_: list[tuple[str, int, str, list[int]]] = []
    for i, tok in enumerate(sentence):
        for m in _ENTITY.finditer(tok["entity"]):
            if m.group(1) is not None:
                fields = m.group(2).split("-", 6)
                etype, minspan = fields[0], fields[4] if len(fields) > 4 else "1"
                heads = [i + int(h) - 1 for h in minspan.split(",") if h.isdigit()]
                ident = fields[6].replace("_", " ") if len(fields) > 6 else ""
                if m.group(3):
                    out.append((i, i + 1, etype, heads, ident))
                else:
                    open_.append((m.group(1), i, etype, heads, ident))
            else:
                for k in range(len(open_) - 1, -1, -1):
                    if open_[k][0] == m.group(4):
                        _, start, etype, heads, ident = open_.pop(k)
                        out.append((start, i + 1, etype, heads, ident))
                        break
    return out


def names(sentence: list[dict]) -> list[tuple[int, int]]:  # noqa: C901 (one rule per branch)
    """Token spans [i, j) of the names in a sentence (see the module docstring)."""
    found = mentions(sentence)
    edges = {(m[0], "start") for m in found} | {(m[1] - 1, "end") for m in found}

    # a hyphenated compound written as one word counts as a proper noun when one part is and
    # every part is capitalised ("Make-A-Wish", "Spider-Gwen"), not "Scientology-critic"
    compound: set[int] = set()
    i = 0
    while i < len(sentence):
        j = i
        while (j + 2 < len(sentence) and sentence[j + 1]["form"] == "-"
               and not sentence[j]["space"] and not sentence[j + 1]["space"]):
            j += 2
        parts = range(i, j + 1, 2)
        if j > i and all(sentence[k]["form"][:1].isupper() for k in parts) and any(
                sentence[k]["xpos"] in ("NNP", "NNPS") for k in parts):
            compound.update(parts)
        i = j + 1

    def proper(i: int) -> bool:
        return sentence[i]["xpos"] in ("NNP", "NNPS") or i in compound

    def title(i: int) -> bool:
        return sentence[i]["form"].lower() in _TITLES

    def bridge(a: int, b: int, person: bool, ident: str) -> bool:
        """Tokens a..b-1 join the proper nouns before and after them into one name. Not in a
        person's name but for particles ("Alvin Yeung of Civic Party": two names); an "and" only
        when no mention starts or ends beside it (not "Bob and Alice"); not into a place the
        mention's Wikipedia title leaves out ("University of Sheffield of the UK")."""
        words = [sentence[k]["form"].lower() for k in range(a, b)]
        if not all(w in _INSIDE or w == "and" for w in words):
            return False
        if person and any(w in _NOT_IN_PERSONS for w in words):
            return False
        if ident and any(w.isalpha() for w in words) and sentence[b]["form"] not in ident \
                and sentence[a - 1]["form"] in ident:
            return False
        return "and" not in words or ((a - 1, "end") not in edges and (b, "start") not in edges)

    spans: set[tuple[int, int]] = set()
    for start, end, etype, heads, ident in found:
        if etype in _NOT_NAMES:
            continue
        person = etype == "person"
        inner = [m for m in found if start <= m[0] and m[1] <= end and (m[0], m[1]) != (start, end)]
        # inside a person's mention, a name ending or starting beside it is another entity:
        # "[Governor of [Washington]] Chris Gregoire"
        inner_ends = {m[1] - 1 for m in inner} if person else set()
        inner_starts = {m[0] for m in inner} if person else set()
        for h in heads:
            if not (start <= h < end) or not proper(h) or title(h):
                continue
            if any(m[0] <= h < m[1] for m in inner):
                continue  # the head of a mention inside this one names that one
            i = h
            while i > start and (i - 1 not in inner_ends or i - 1 >= h):
                if proper(i - 1) and not title(i - 1):
                    i -= 1
                    continue
                k = i - 1
                while k > start and not proper(k) and k >= i - 2:
                    k -= 1
                if k < i - 1 and proper(k) and not title(k) and bridge(k + 1, i, person, ident):
                    i = k
                    continue
                break
            j = h + 1
            while j < end and not title(j) and (j not in inner_starts or j <= h):
                if proper(j):
                    j += 1
                    continue
                k = j
                while k < end and not proper(k) and k < j + 2:
                    k += 1
                if k > j and k < end and proper(k) and bridge(j, k, person, ident):
                    j = k + 1
                    continue
                if sentence[j]["upos"] == "NUM" and j + 1 == end:  # "Apollo 11"
                    j += 1
                elif (sentence[j]["form"] == "-" and j + 2 == end
                      and sentence[j + 1]["upos"] == "NUM"):  # "STS-1"
                    j += 2
                break
            spans.add((i, j))
        # a mention linked to a Wikipedia article whose title it spells out is named by it even
        # where the tagger's proper-noun tag is missing ("Facebook co-founder", "India, where")
        linked = re.sub(r" \(.*\)$", "", ident).split()
        if linked and linked[0][:1].isupper():
            forms = [t["form"] for t in sentence]
            for k in range(start, end - len(linked) + 1):
                if forms[k:k + len(linked)] == linked:
                    if not any(a < k + len(linked) and k < b for a, b in spans):
                        spans.add((k, k + len(linked)))
                    break
    return sorted(s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1]
                                              for o in spans)
                  and any(c.isupper() for t in sentence[s[0]:s[1]] for c in t["form"]))


def to_conll(documents: list[tuple[str, list[list[dict]]]]) -> str:
    """Token TAB BIO tag (TAB SpaceAfter=No where the text has no space); ``-DOCSTART-`` lines."""
    lines: list[str] = []
    for name, sentences in documents:
        lines += [f"-DOCSTART- {name}", ""]
        for sentence in sentences:
            tags = ["O"] * len(sentence)
            for i, j in names(sentence):
                tags[i:j] = ["B-NAME"] + ["I-NAME"] * (j - i - 1)
            for tok, tag in zip(sentence, tags, strict=True):
                lines.append(f"{tok['form']}\t{tag}" + ("" if tok["space"] else "\tSpaceAfter=No"))
            lines.append("")
    return "\n".join(lines)


def split(names_: list[str]) -> tuple[list[str], list[str]]:
    """(dev, test) document names: GUM's own dev and test, the rest alternately."""
    rest = sorted(n for n in names_ if n not in GUM_DEV + GUM_TEST)
    dev = sorted([*GUM_DEV, *rest[0::2]])
    test = sorted([*GUM_TEST, *rest[1::2]])
    return dev, test


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0])
    files = {p.stem: p for p in sorted(folder.glob("GUM_news_*.conllu"))}
    for part, docs in zip(("dev", "test"), split(list(files)), strict=True):
        text = to_conll([(d, read_conllu(files[d])) for d in docs])
        (_OUT / f"gum-news-{part}.conll").write_text(text, encoding="utf-8")
        print(f"gum-news-{part}.conll: {len(docs)} documents, {text.count('B-NAME')} names")
    wiki = sorted(p for g in WIKIMEDIA_GENRES for p in folder.glob(f"GUM_{g}_*.conllu"))
    if wiki:
        text = to_conll([(p.stem, read_conllu(p)) for p in wiki])
        (_OUT / "gum-wikimedia-dev.conll").write_text(text, encoding="utf-8")
        print(f"gum-wikimedia-dev.conll: {len(wiki)} documents, {text.count('B-NAME')} names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

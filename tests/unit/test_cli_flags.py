"""Flags are matched exactly: argparse's prefix matching read ``serve --token x`` as
``--token-file x`` (a token typed on the command line became a path, silently)."""

from __future__ import annotations

import argparse

import pytest

from collapse_otel import cli
from collapse_otel.audit.cli import parser as audit_parser
from collapse_otel.compare.cli import parser as compare_parser
from collapse_otel.mixin.render import parser as mixin_parser
from collapse_otel.multiprocess.__main__ import _parser as multiprocess_parser
from collapse_otel.serve.settings import build_parser as serve_parser


def _demo_parser() -> argparse.ArgumentParser:
    sub = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["demo"]


PARSERS = {"demo": _demo_parser, "serve": serve_parser,
           "compare": compare_parser, "audit": audit_parser, "mixin": mixin_parser,
           "multiprocess": multiprocess_parser}
# positional arguments the parser needs before it looks at a flag
_POSITIONALS = {"compare": ["a.jsonl", "b.jsonl"], "audit": ["v1.jsonl"]}


def _cut_flags(make) -> list[str]:
    """Every long flag cut by its last character, where that is not a flag itself."""
    p = make()
    flags = {s for a in p._actions for s in a.option_strings if s.startswith("--")}
    return sorted(f[:-1] for f in flags if len(f) > 3 and f[:-1] not in flags
                  and f not in ("--help", "--version"))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_no_flag_is_taken_by_its_prefix(name, capsys):
    cuts = _cut_flags(PARSERS[name])
    assert cuts, name
    for cut in cuts:
        with pytest.raises(SystemExit) as info:
            PARSERS[name]().parse_args([*_POSITIONALS.get(name, []), cut, "x"])
        assert info.value.code == 2, (name, cut)
    capsys.readouterr()


def test_serve_token_flag_is_refused_not_read_as_the_token_file(capsys):
    from collapse_otel.serve.settings import resolve

    with pytest.raises(SystemExit) as info:
        resolve(["--token", "s3cret"], environ={})
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --token" in err
    with pytest.raises(SystemExit):
        cli.main(["demo", "--dur", "5"])

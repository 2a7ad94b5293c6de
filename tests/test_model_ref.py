"""``governance.ground.refs.ModelRef``: one value for a model version, the version an int."""

from __future__ import annotations

import argparse

import pytest

from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Subject


@pytest.mark.parametrize("given", [3, "3", " 3 ", "03"])
def test_parse_reads_a_version_number_as_the_registry_or_the_cli_gives_it(given):
    ref = ModelRef.parse("alpha", given)
    assert ref == ModelRef("alpha", 3) and isinstance(ref.version, int)
    assert ref.subject == Subject.model("alpha", 3) == "model:alpha/v3"
    assert str(ref) == "alpha v3"


@pytest.mark.parametrize("given", ["v3", "3.0", "", "-1", "0", 0, True, "latest", None, 2.5])
def test_parse_refuses_what_is_no_version_number_in_one_line(given):
    """A version from outside that is no positive whole number is bad input (exit 2),
    never a ``ModelRef`` whose version compares unequal to every real one."""
    with pytest.raises(InputError, match="is not a version number") as err:
        ModelRef.parse("alpha", given)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("given", ["3", 3.0, True, None])
def test_the_constructor_takes_an_int_only(given):
    """Code that builds a ref directly from a string is a bug, caught where it is made."""
    with pytest.raises(TypeError):
        ModelRef("alpha", given)


def test_refs_compare_by_number_not_by_text():
    """The int|str confusion this value ends: ``"10" < "9"`` as text, 9 < 10 as versions."""
    assert ModelRef.parse("a", "10") > ModelRef.parse("a", "9")
    assert ModelRef.parse("a", "3") == ModelRef.parse("a", 3)
    assert len({ModelRef.parse("a", "3"), ModelRef("a", 3)}) == 1


def test_from_subject_reads_a_versions_subject_only():
    assert ModelRef.from_subject("model:alpha/v12") == ModelRef("alpha", 12)
    assert ModelRef.from_subject("model:alpha") is None  # the model, no version
    assert ModelRef.from_subject(Subject.strategy("alpha")) is None
    assert ModelRef.from_subject(None) is None


def _version_options(parser, path=()):
    """``(command words, action)`` of every ``--model-version`` option of the CLI."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from _version_options(sub, (*path, word))
        elif "--model-version" in action.option_strings:
            yield path, action


def test_every_model_version_option_reads_the_number_through_the_one_parser(capsys):
    """``--model-version 0`` (or ``v3``, ``-1``) is a usage error, exit 2, naming the value:
    on every command that takes the option, so none hands a version that is no version on."""
    from flows.cli import build_parser

    parser = build_parser()
    options = list(_version_options(parser))
    assert len(options) >= 8  # validate, approve, reject, retire, status, findings list, ...
    for words, action in options:
        assert action.type(" 7 ") == 7, words
        for bad in ("0", "v3", "-1", "2.5"):
            with pytest.raises(SystemExit) as out:
                parser.parse_args([*words, "--model-version", bad])
            assert out.value.code == 2, (words, bad)
            assert "is not a version number" in capsys.readouterr().err, (words, bad)


@pytest.mark.parametrize("given", ["abc", "0", None, ""])
def test_recorded_skips_a_payload_whose_version_is_no_number(given):
    """A reader of recorded payloads (a forged entry among them) skips, never fails."""
    assert ModelRef.recorded("alpha", given) is None
    assert ModelRef.recorded("alpha", "4") == ModelRef("alpha", 4)

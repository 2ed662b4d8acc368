"""How a string reaches a rendered run-folder file without adding lines or commands.

A run folder is copied between machines and people, and its submit file and wrapper run
whatever they say, so no string from a spec (or its file name, or `--name`) may change their
structure. Two rules:

- a value that is a name, an image or a path must be one line of printable text:
  `refuse_control` rejects it (one line naming the key) before anything is written;
- every value a template interpolates goes through the one escaping helper of the file's
  language: `submit_text` (HTCondor submit file), `shell_word` (bash), `markdown_text`
  (README). Each returns an `Escaped` string marked with its language, and `render.py` refuses
  to interpolate anything else, so a template cannot forget the helper.

Control characters here are those Python's `str.isprintable` rejects (C0/C1 controls, NUL,
the Unicode line and paragraph separators, format characters such as bidi overrides, and
unassigned code points), i.e. everything that can end a line or hide what a line says.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from dmsweep.errors import ConfigError

if TYPE_CHECKING:
    from dmsweep.run_builder.spec import SweepSpec

SUBMIT, SHELL, MARKDOWN = "submit", "shell", "markdown"
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
"""Words bash reads literally without quotes."""
_MARKDOWN_SPECIAL = re.compile(r"([\\`<>\[\]|])")
"""Characters that open code spans, HTML, links or table cells anywhere in a line."""
_MARKDOWN_BLOCK_START = re.compile(r"^([-+=*#]|\d+[.)])(?=\s|$)")
"""What makes a line a list item or a heading when it comes first."""
_WHITESPACE = re.compile(r"\s+")
_DOLLAR_MACRO = re.compile(r"\$\(\s*dollar\s*\)", re.IGNORECASE)
_SUBMIT_EMPTY_MACRO = "$(DmsweepNothing)"
"""An undefined submit-file macro: expands to nothing, so `\\$(DmsweepNothing)` is a backslash
that does not continue the line (HTCondor joins a line ending in a backslash with the next,
comments included)."""


class Escaped(str):
    """Text escaped for one target language (`language`); the only thing templates may output."""

    language: str

    def __new__(cls, text: str, language: str) -> Escaped:
        self = super().__new__(cls, text)
        self.language = language
        return self


def control_characters(text: str) -> list[str]:
    """The characters of `text` that are not printable (see the module docstring), in order."""
    return [c for c in text if not c.isprintable() and c != " "]


def describe_character(char: str) -> str:
    name = unicodedata.name(char, "") or _C0_NAMES.get(ord(char), "control character")
    return f"U+{ord(char):04X} ({name.lower()})"


_C0_NAMES = {0: "NUL", 9: "tab", 10: "line feed", 13: "carriage return", 27: "escape"}


def refuse_control(value: str, key: str, *, submit_value: bool = False) -> str:
    """`value` unchanged when it is one line of printable text (and, with `submit_value`,
    text a submit-file value can hold), else ConfigError naming `key`."""
    bad = control_characters(value)
    if bad:
        raise ConfigError(
            f"{key}: {value!r} holds {describe_character(bad[0])}: expected one line of "
            "printable text (it is written into the submit file and the job wrapper)"
        )
    problem = submit_problem(value) if submit_value else None
    if problem:
        raise ConfigError(f"{key}: {value!r} {problem}: it cannot go into the submit file")
    return value


def check_spec_strings(spec: SweepSpec) -> None:
    """Refuse control characters in what a spec contributes to rendered files as a name, an
    image, a path or an expression: its file's path, `name`, `environment.image`, and every
    `requirements` (whitespace there is folded to spaces, so tabs and newlines may stay)."""
    where = str(spec.path)
    refuse_control(str(Path(spec.path).resolve()), f"{where!r}: the spec file's path")
    refuse_control(spec.path.name, f"{where}: the spec file's name", submit_value=True)
    refuse_control(spec.name, f"{where}: name")
    if spec.environment.image is not None:
        refuse_control(spec.environment.image, f"{where}: environment.image", submit_value=True)
    for model, resources in spec.resources.items():
        if resources.requirements is not None:
            folded = " ".join(resources.requirements.split())
            key = f"{where}: resources.{model}.requirements"
            refuse_control(folded, key, submit_value=True)


def _visible(char: str) -> str:
    """A non-printable character as visible text: \\xNN, \\uNNNN or \\UNNNNNNNN."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _one_line(text: str) -> str:
    return "".join(_visible(c) if not c.isprintable() and c != " " else c for c in text)


def submit_problem(text: str) -> str | None:
    """Why `text` cannot be written faithfully as an HTCondor submit-file value, or None.

    `$$(` is HTCondor's match-time substitution and a literal `$(DOLLAR)` collapses to `$`
    whatever escapes surround it (both checked with HTCondor's own submit parser)."""
    if "$$" in text:
        return "holds '$$', which HTCondor substitutes at match time"
    if _DOLLAR_MACRO.search(text):
        return "holds '$(DOLLAR)', which HTCondor always reads as '$'"
    return None


def submit_text(value: object) -> Escaped:
    """`value` as text of one HTCondor submit-file line (a value or a comment).

    `$` becomes `$(DOLLAR)` (no macro expansion of a value), control characters become
    visible escapes (no new lines), and a trailing backslash is followed by an empty macro
    (no line continuation). Text HTCondor cannot hold (`submit_problem`) is refused."""
    problem = submit_problem(str(value))
    if problem:
        raise ConfigError(f"{str(value)!r} {problem}: it cannot be written into a submit file")
    text = _one_line(str(value)).replace("$", "$(DOLLAR)")
    if text.endswith("\\"):
        text += _SUBMIT_EMPTY_MACRO
    return Escaped(text, SUBMIT)


def shell_word(value: object) -> Escaped:
    """`value` as one bash word that expands to exactly `value`, on one line.

    Plain words stay as they are, printable text is single-quoted, and text with control
    characters becomes an ANSI-C `$'...'` word with each such character's UTF-8 bytes as
    \\xNN (independent of the job's locale). NUL cannot be held by a bash string: refused."""
    text = str(value)
    if "\0" in text:
        raise ConfigError(f"{text!r}: a NUL character cannot be passed to the job wrapper")
    if _SHELL_SAFE.fullmatch(text):
        return Escaped(text, SHELL)
    if not control_characters(text):
        return Escaped("'" + text.replace("'", "'\\''") + "'", SHELL)
    parts = []
    for char in text:
        if char in "\\'":
            parts.append("\\" + char)
        elif char.isprintable() or char == " ":
            parts.append(char)
        else:
            parts.append("".join(f"\\x{b:02x}" for b in char.encode("utf-8")))
    return Escaped("$'" + "".join(parts) + "'", SHELL)


def markdown_text(value: object) -> Escaped:
    """`value` as inline Markdown text on one line: whitespace (newlines included) folded to
    single spaces, other control characters as visible escapes, and the characters that
    open Markdown constructs (code, links, HTML, table cells; headings and lists at the start)
    backslash-escaped. Emphasis is left alone: it cannot add lines or hide text."""
    text = _one_line(_WHITESPACE.sub(" ", str(value)))
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = _MARKDOWN_BLOCK_START.sub(r"\\\1", text)
    return Escaped(text, MARKDOWN)


FILTERS = {"submit": submit_text, "sh": shell_word, "md": markdown_text}
"""Jinja2 filter name -> helper (registered by render.py)."""
FILTER_LANGUAGES = {name: helper("").language for name, helper in FILTERS.items()}
LANGUAGE_OF_SUFFIX = {".sub": SUBMIT, ".sh": SHELL, ".md": MARKDOWN}
"""A template's output language, from the suffix of its name without `.j2`."""

"""A small text for character-level models, and its vocabulary."""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io


def zen_of_python(title: bool = True) -> str:
    """PEP 20, "The Zen of Python", as the standard library's ``this`` module prints it.

    ``this`` keeps the text rot13-encoded in ``this.s`` and prints it when first imported;
    here the import runs with stdout redirected, so nothing is printed. With ``title`` (the
    default) the text starts with the line "The Zen of Python, by Tim Peters" and a blank
    line (856 characters, 45 distinct); without it, with "Beautiful is better than ugly."
    (the 19 aphorisms alone, 822 characters, 43 distinct). No trailing newline either way.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        this = importlib.import_module("this")
    text = codecs.decode(this.s, "rot13")
    return text if title else text.partition("\n\n")[2]


def char_vocab(text: str) -> tuple[list[str], dict[str, int]]:
    """The distinct characters of ``text`` in code-point order, and each one's index.

    Returns
    -------
    chars : list of str
        ``chars[i]`` is the character with index i.
    char_to_index : dict
        The inverse: ``char_to_index[chars[i]] == i``.
    """
    chars = sorted(set(text))
    return chars, {c: i for i, c in enumerate(chars)}

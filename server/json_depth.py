"""How deeply a JSON text nests, found before parsing it: parsers recurse once per level and
overflow the stack a few thousand levels down, well inside any size limit."""

from __future__ import annotations

import re

# One token each: a JSON string (possibly unterminated), an opening or a closing bracket.
_TOKENS = re.compile(
    r'(?P<string>"[^"\\]*(?:\\.[^"\\]*)*"?)|(?P<open>[\[{])|(?P<close>[\]}])', re.DOTALL
)


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in `text` nest past `limit` levels: one linear scan, strings
    skipped, stopping at the first level past the limit."""
    depth = 0
    for token in _TOKENS.finditer(text):
        if token.lastgroup == "open":
            depth += 1
            if depth > limit:
                return True
        elif token.lastgroup == "close":
            depth -= 1
    return False

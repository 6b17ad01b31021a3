"""The safe subset of regular expressions clients may send.

The embedded database matches patterns with Python's backtracking `re`, in its one
thread, and a single match is never interrupted; a real MongoDB's PCRE backtracks too.
A pattern's cost must therefore be bounded before it is sent. Every pattern a client
supplies (`$regex`, `$jsonSchema` `pattern`, `$regexMatch`) must be in this subset:

- at most SLUICE_MAX_REGEX_LENGTH characters;
- literals, `.`, character classes `[...]`, the escapes `\\d \\D \\w \\W \\s \\S \\b \\B
  \\A \\z \\Z \\n \\t \\r \\f \\v` and escaped punctuation, anchors `^ $`, groups `(...)`
  and `(?:...)`, alternation `|`;
- quantifiers (`? * + {n} {n,} {n,m}`, lazy or not) only on a single character or class,
  never on a group: nested quantifiers cannot be written;
- no backreferences, lookaround, named groups, inline flags, atomic groups or
  possessive quantifiers;
- at most one unbounded quantifier (`*`, `+`, `{n,}`), and only when the pattern starts
  with `^` or `\\A`, has no top-level `|` and no `m` option: the match is then tried
  from one position, in time linear in the value's length;
- a cost (the ways a match may proceed from one position, times the characters it may
  consume) of at most SLUICE_MAX_REGEX_COST, so that overlapping optional parts
  (`a?a?a?...`, `\\d{0,99}\\d{0,99}`) cannot multiply;
- options among `i`, `m`, `s` only (`x` changes the syntax and is refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.errors import InvalidQuery

#: Escapes allowed outside and inside a class (a backslash and one of these letters).
_CLASS_ESCAPES = frozenset("dDwWsSntrfv")
_ANCHOR_ESCAPES = frozenset("bBAzZ")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")
#: Longest repeat count read: a longer one is refused before it is turned into a number.
_MAX_COUNT_DIGITS = 6
ALLOWED_OPTIONS = frozenset("ims")


@dataclass(frozen=True)
class RegexPolicy:
    """The bounds of the safe subset (SLUICE_MAX_REGEX_LENGTH, SLUICE_MAX_REGEX_COST)."""

    max_length: int = 256
    max_cost: int = 4096

    def check(self, pattern: object, options: object = "", where: str = "$regex") -> None:
        """Raise InvalidQuery naming the problem unless `pattern` is in the safe subset."""
        if not isinstance(pattern, str):
            raise InvalidQuery(f"{where}: a pattern must be a string", {"key": where})
        if not isinstance(options, str) or set(options) - ALLOWED_OPTIONS:
            raise InvalidQuery(
                f"{where}: regex options may only be 'i', 'm' and 's'", {"key": where}
            )
        if len(pattern) > self.max_length:
            raise InvalidQuery(
                f"{where}: pattern of {len(pattern)} characters is longer than "
                f"SLUICE_MAX_REGEX_LENGTH ({self.max_length})",
                {"key": where, "limit": "SLUICE_MAX_REGEX_LENGTH"},
            )
        parsed = _Parser(pattern, where).parse()
        if parsed.unbounded:
            anchored = pattern.startswith(("^", "\\A")) and not parsed.top_alternation
            if parsed.unbounded > 1 or not anchored or "m" in options:
                raise InvalidQuery(
                    f"{where}: an unbounded quantifier (*, +, {{n,}}) is allowed once, in a "
                    "pattern anchored with ^ (no top-level |, no 'm' option); to find a "
                    "substring, send it without .* around it",
                    {"key": where},
                )
        if parsed.cost > self.max_cost:
            raise InvalidQuery(
                f"{where}: pattern may backtrack too much (cost {parsed.cost} over "
                f"SLUICE_MAX_REGEX_COST ({self.max_cost})); use fewer or narrower "
                "optional parts and repeats",
                {"key": where, "limit": "SLUICE_MAX_REGEX_COST"},
            )


@dataclass
class _Cost:
    """How one part of a pattern may match from a position: its alternatives and the
    most characters it consumes."""

    ways: int = 1
    length: int = 0

    def then(self, other: _Cost) -> _Cost:
        return _Cost(self.ways * other.ways, self.length + other.length)


@dataclass
class _Parsed:
    cost: int
    unbounded: int
    top_alternation: bool


class _Parser:
    """A recursive-descent reading of the subset; refuses anything outside it."""

    def __init__(self, pattern: str, where: str) -> None:
        self.text = pattern
        self.where = where
        self.at = 0
        self.unbounded = 0

    def fail(self, reason: str) -> InvalidQuery:
        return InvalidQuery(
            f"{self.where}: {reason} (at character {self.at}); see the safe regex subset "
            "in the README",
            {"key": self.where, "position": self.at},
        )

    def parse(self) -> _Parsed:
        branches = self.alternation()
        if self.at < len(self.text):
            raise self.fail("unbalanced ')'")
        cost = sum(b.ways for b in branches) * max(1, max(b.length for b in branches))
        return _Parsed(cost, self.unbounded, len(branches) > 1)

    def alternation(self) -> list[_Cost]:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence())
        return branches

    def sequence(self) -> _Cost:
        total = _Cost()
        while self.at < len(self.text) and self.peek() not in "|)":
            total = total.then(self.item())
        return total

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def item(self) -> _Cost:
        char = self.peek()
        if char in "*+?":
            raise self.fail("a quantifier must follow a single character or class")
        if char == "{" and _QUANTIFIER.match(self.text, self.at):
            raise self.fail("a quantifier must follow a single character or class")
        if char == "(":
            group = self.group()
            if self.peek() in ("*", "+", "?", "{"):
                raise self.fail("groups cannot be quantified (no nested quantifiers)")
            return group
        if char in "^$":
            self.at += 1
            return _Cost()
        if char == "\\" and self.text[self.at + 1 : self.at + 2] in _ANCHOR_ESCAPES:
            self.at += 2
            return _Cost()
        self.single()
        return self.quantifier()

    def group(self) -> _Cost:
        self.at += 1
        if self.peek() == "?":
            if self.text[self.at : self.at + 2] != "?:":
                raise self.fail(
                    "only plain (...) and (?:...) groups are allowed (no lookaround, "
                    "named groups, inline flags or atomic groups)"
                )
            self.at += 2
        branches = self.alternation()
        if self.peek() != ")":
            raise self.fail("missing ')'")
        self.at += 1
        return _Cost(sum(b.ways for b in branches), max(b.length for b in branches))

    def single(self) -> None:
        """One character matcher: a literal, `.`, an escape or a class."""
        char = self.peek()
        if char == "[":
            self.char_class()
        elif char == "\\":
            self.escape(_CLASS_ESCAPES)
        elif char == "{":
            raise self.fail("escape a literal '{' as '\\{'")
        else:
            self.at += 1

    def escape(self, letters: frozenset[str]) -> None:
        following = self.text[self.at + 1 : self.at + 2]
        if not following:
            raise self.fail("the pattern ends with a lone backslash")
        if following.isdigit():
            raise self.fail("backreferences and octal escapes are not allowed")
        if following.isalnum() and following not in letters:
            raise self.fail(f"the escape \\{following} is not allowed")
        self.at += 2

    def char_class(self) -> None:
        self.at += 1
        if self.peek() == "^":
            self.at += 1
        if self.peek() == "]":
            self.at += 1
        while True:
            char = self.peek()
            if not char:
                raise self.fail("missing ']'")
            if char == "]":
                self.at += 1
                return
            if char == "[":
                raise self.fail("escape a '[' inside a class as '\\['")
            if char == "\\":
                self.escape(_CLASS_ESCAPES | {"b"})
            else:
                self.at += 1

    def quantifier(self) -> _Cost:
        """The cost of the single character just read, with its quantifier if any."""
        char = self.peek()
        high: int | None
        if char in ("?", "*", "+"):
            self.at += 1
            low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}[char]
        elif char == "{":
            found = _QUANTIFIER.match(self.text, self.at)
            if found is None:
                raise self.fail("escape a literal '{' as '\\{'")
            if max(len(found.group(1)), len(found.group(3) or "")) > _MAX_COUNT_DIGITS:
                raise self.fail("a repeat count is too large")
            self.at = found.end()
            low = int(found.group(1))
            if found.group(2) is None:
                high = low
            elif not found.group(3):
                high = None
            else:
                high = int(found.group(3))
                if high < low:
                    raise self.fail("a repeat {n,m} needs n <= m")
        else:
            return _Cost(1, 1)
        if self.peek() == "?":
            self.at += 1  # lazy: same cost
        elif self.peek() == "+":
            raise self.fail("possessive quantifiers are not allowed")
        if high is None:
            self.unbounded += 1
            return _Cost(1, max(low, 1))
        return _Cost(high - low + 1, high)

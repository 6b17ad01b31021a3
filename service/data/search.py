"""Search over data versions with a small subset of the Lucene query syntax (what
AERO's Globus Search "advanced" queries use), translated to a MongoDB filter.

    covid                    a term: a word of name, description, tags or source
    "waste water"            a phrase, the same way
    flu*                     a trailing * : words starting with "flu"
    name:covid  tags:(a OR b)  source:*  (a field; `field:*`: the field is set)
    version:>=2  size:[10 TO 100]  version:{1 TO 5}  created:[2026-01-01 TO *]
    a AND b   a OR b   a b (= a AND b)   NOT a   -a   +a   ( ... )

Fields: name, description, tags, source (the URL), data_id, checksum (md5), sha256,
version, size, created (a date, YYYY-MM-DD or YYYY/MM/DD). Matching is case-blind.
User text is never a regular expression nor an operator: terms go through
`re.escape`, and the filter is built from a fixed set of fields and operators. A query
longer than SLUICE_AERO_SEARCH_MAX_QUERY_LEN, with more than
SLUICE_AERO_SEARCH_MAX_TERMS terms, nested deeper than SLUICE_MAX_QUERY_DEPTH, or that
does not parse is a 400 naming the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pymongo import DESCENDING

from service.data.store import DataStore
from service.db import Document
from service.errors import InvalidQuery
from service.settings import Settings

TEXT_FIELDS = ("name", "description", "source")
EXACT_FIELDS = ("data_id", "checksum", "sha256")
NUMBER_FIELDS = ("version", "size")
FIELDS = (*TEXT_FIELDS, "tags", *EXACT_FIELDS, *NUMBER_FIELDS, "created")
#: Search hits per page when the caller names none (Globus Search's), and at most.
DEFAULT_LIMIT = 10
MAX_LIMIT = 100

_SPECIAL = set('()[]{}:"')
_EDGE = "[^a-z0-9]"


@dataclass
class _Token:
    kind: str  # word, phrase, op (>=...), or the character itself
    text: str
    at: int


def _bad(message: str, at: int) -> InvalidQuery:
    return InvalidQuery(f"search query: {message} (at character {at + 1})", {"position": at + 1})


def tokenize(text: str) -> list[_Token]:
    """The tokens of `text`; 400 for an unterminated phrase."""
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char in _SPECIAL - {'"'}:
            tokens.append(_Token(char, char, index))
            index += 1
        elif char == '"':
            end, value = index + 1, []
            while end < len(text) and text[end] != '"':
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                value.append(text[end])
                end += 1
            if end >= len(text):
                raise _bad("unterminated phrase", index)
            tokens.append(_Token("phrase", "".join(value), index))
            index = end + 1
        elif tokens and tokens[-1].kind == ":" and text.startswith((">=", "<="), index):
            tokens.append(_Token("op", text[index : index + 2], index))
            index += 2
        elif tokens and tokens[-1].kind == ":" and char in "<>":
            tokens.append(_Token("op", char, index))
            index += 1
        else:
            end, value = index, []
            while end < len(text) and not text[end].isspace() and text[end] not in _SPECIAL:
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                value.append(text[end])
                end += 1
            tokens.append(_Token("word", "".join(value), index))
            index = end
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token], text: str, max_terms: int, max_depth: int) -> None:
        self.tokens = tokens
        self.end = len(text)
        self.index = 0
        self.terms = 0
        self.max_terms = max_terms
        self.max_depth = max_depth

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str | None = None) -> _Token:
        token = self.peek()
        if token is None:
            raise _bad(f"expected {kind or 'more'} at the end", self.end)
        if kind is not None and token.kind != kind:
            raise _bad(f"expected {kind!r}, found {token.text!r}", token.at)
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text in words

    def parse(self) -> Document:
        if not self.tokens:
            return {}
        found = self.disjunction(0, None)
        token = self.peek()
        if token is not None:
            raise _bad(f"unexpected {token.text!r}", token.at)
        return found

    def disjunction(self, depth: int, field: str | None) -> Document:
        if depth > self.max_depth:
            raise _bad("nested deeper than SLUICE_MAX_QUERY_DEPTH", self.take().at)
        parts = [self.conjunction(depth, field)]
        while self.keyword("OR", "||"):
            self.take()
            parts.append(self.conjunction(depth, field))
        return parts[0] if len(parts) == 1 else {"$or": parts}

    def conjunction(self, depth: int, field: str | None) -> Document:
        parts = [self.unary(depth, field)]
        while True:
            token = self.peek()
            if token is None or token.kind == ")" or self.keyword("OR", "||"):
                break
            if self.keyword("AND", "&&"):
                self.take()
            parts.append(self.unary(depth, field))
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def unary(self, depth: int, field: str | None) -> Document:
        token = self.peek()
        if token is not None and token.kind == "word":
            if token.text in ("NOT", "!"):
                self.take()
                return {"$nor": [self.unary(self.deeper(depth, token), field)]}
            if token.text.startswith(("-", "+")) and len(token.text) > 1:
                sign, token.text = token.text[0], token.text[1:]
                token.at += 1
                inner = self.unary(self.deeper(depth, token), field)
                return {"$nor": [inner]} if sign == "-" else inner
            if token.text in ("-", "+"):
                self.take()
                inner = self.unary(self.deeper(depth, token), field)
                return {"$nor": [inner]} if token.text == "-" else inner
        return self.primary(depth, field)

    def deeper(self, depth: int, token: _Token) -> int:
        """The depth inside a prefix (NOT, !, -, +), which nests as a parenthesis does
        (each a level of the filter, or of the parser); 400 past the limit."""
        if depth >= self.max_depth:
            raise _bad("nested deeper than SLUICE_MAX_QUERY_DEPTH", token.at)
        return depth + 1

    def primary(self, depth: int, field: str | None) -> Document:
        token = self.take()
        if token.kind == "(":
            inner = self.disjunction(depth + 1, field)
            self.take(")")
            return inner
        if token.kind == "word" and field is None and self.peek() and self.peek().kind == ":":  # type: ignore[union-attr]
            self.take(":")
            name = token.text.lower()
            if name not in FIELDS:
                raise _bad(f"unknown field {token.text!r} (fields: {', '.join(FIELDS)})", token.at)
            return self.value(depth, name)
        if token.kind in ("word", "phrase"):
            return self.term(token, field)
        raise _bad(f"unexpected {token.text!r}", token.at)

    def value(self, depth: int, field: str) -> Document:
        token = self.peek()
        if token is None:
            raise _bad(f"{field}: expected a value", self.end)
        if token.kind == "(":
            self.take()
            inner = self.disjunction(depth + 1, field)
            self.take(")")
            return inner
        if token.kind in ("[", "{"):
            return self.range(field)
        if token.kind == "op":
            self.take()
            bound = self.take()
            self.count(bound)
            operator = {">=": "$gte", "<=": "$lte", ">": "$gt", "<": "$lt"}[token.text]
            return _compare(field, operator, bound)
        return self.unary(depth, field)

    def range(self, field: str) -> Document:
        opening = self.take()
        low = self.take()
        if not (self.keyword("TO")):
            raise _bad("a range is [low TO high]", low.at)
        self.take()
        high = self.take()
        closing = self.take()
        if closing.kind not in ("]", "}"):
            raise _bad("a range ends with ] or }", closing.at)
        self.count(low)
        parts = []
        if low.text != "*":
            parts.append(_compare(field, "$gte" if opening.kind == "[" else "$gt", low))
        if high.text != "*":
            parts.append(_compare(field, "$lte" if closing.kind == "]" else "$lt", high))
        if not parts:
            return _exists(field)
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def count(self, token: _Token) -> None:
        self.terms += 1
        if self.terms > self.max_terms:
            raise _bad(f"more than SLUICE_AERO_SEARCH_MAX_TERMS ({self.max_terms}) terms", token.at)

    def term(self, token: _Token, field: str | None) -> Document:
        self.count(token)
        if token.kind == "word" and token.text == "*":
            if field is None:
                raise _bad("a bare * matches nothing; name a field (field:*)", token.at)
            return _exists(field)
        prefix = token.kind == "word" and token.text.endswith("*")
        text = (token.text[:-1] if prefix else token.text).lower()
        if not text:
            raise _bad("an empty term", token.at)
        if field is None:
            return {"$or": [_match(name, text, prefix, token) for name in (*TEXT_FIELDS, "tags")]}
        return _match(field, text, prefix, token)


def _words(text: str, prefix: bool) -> Document:
    tail = "" if prefix else f"(?:{_EDGE}|$)"
    return {"$regex": f"(?:^|{_EDGE}){re.escape(text)}{tail}"}


def _match(field: str, text: str, prefix: bool, token: _Token) -> Document:
    if field in TEXT_FIELDS:
        return {f"search.{field}": _words(text, prefix)}
    if field in ("tags", *EXACT_FIELDS):
        return {f"search.{field}": {"$regex": f"^{re.escape(text)}"} if prefix else text}
    return _compare(field, "$eq", token)


def _exists(field: str) -> Document:
    if field == "tags":
        return {"search.tags.0": {"$exists": True}}
    if field == "created":
        return {"created_at": {"$exists": True}}
    if field in NUMBER_FIELDS:
        return {f"search.{field}": {"$exists": True}}
    return {f"search.{field}": {"$gt": ""}}


def _compare(field: str, operator: str, token: _Token) -> Document:
    if field in NUMBER_FIELDS:
        if not re.fullmatch(r"-?[0-9]{1,18}", token.text):
            raise _bad(f"{field} takes whole numbers, not {token.text!r}", token.at)
        return {f"search.{field}": {operator: int(token.text)}}
    if field == "created":
        return {"created_at": _date_bound(operator, token)}
    raise _bad(f"{field} is text: compare numbers (version, size) or dates (created)", token.at)


def _date_bound(operator: str, token: _Token) -> Document:
    try:
        day = datetime.strptime(token.text.replace("/", "-"), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise _bad(f"created takes dates YYYY-MM-DD, not {token.text!r}", token.at) from None
    # The last day there is (9999-12-31) ends at the last time there is.
    following = (
        day + timedelta(days=1) if day.date() < date.max else datetime.max.replace(tzinfo=UTC)
    )
    if operator == "$eq":
        return {"$gte": day, "$lt": following}
    # A day is a span: "> day" starts after it, "<= day" includes all of it.
    return {operator: following if operator in ("$gt", "$lte") else day}


def translate(text: str, settings: Settings) -> Document:
    """The MongoDB filter over `aero_versions` of the query `text`; 400 if bad."""
    if len(text) > settings.aero_search_max_query_len:
        raise InvalidQuery(
            f"search query longer than SLUICE_AERO_SEARCH_MAX_QUERY_LEN "
            f"({settings.aero_search_max_query_len} characters)",
            {"limit": "SLUICE_AERO_SEARCH_MAX_QUERY_LEN"},
        )
    parser = _Parser(tokenize(text), text, settings.aero_search_max_terms, settings.max_query_depth)
    return parser.parse()


@dataclass
class Hits:
    """A page of matching versions (each with its data source) and the total."""

    found: list[tuple[Document, Document]]
    total: int
    offset: int
    limit: int


async def run(
    store: DataStore, text: str, offset: int, limit: int | None, latest_only: bool
) -> Hits:
    """The versions matching `text`, newest first; 400 for a bad query or page."""
    if offset < 0 or offset >= 2**63:
        raise InvalidQuery("offset must be at least 0", {"offset": offset})
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be 1-{MAX_LIMIT}", {"limit": limit})
    query = translate(text, store.settings)
    if latest_only:
        query = {"$and": [query, {"search.latest": True}]} if query else {"search.latest": True}
    total = await store.versions.count_documents(query)
    cursor = store.versions.find(
        query, sort=[("created_at", DESCENDING), ("_id", DESCENDING)], skip=offset, limit=limit
    )
    versions = [found async for found in cursor]
    sources = await store.many(sorted({version["data_id"] for version in versions}))
    found = [(v, sources[v["data_id"]]) for v in versions if v["data_id"] in sources]
    return Hits(found, total, offset, limit)


def parse_flag(raw: str | None, name: str) -> bool:
    """A boolean query parameter (true/false/1/0); 400 otherwise."""
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no", ""):
        return False
    raise InvalidQuery(f"{name} must be true or false, not {raw!r}", {name: raw})

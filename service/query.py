"""Validation of client-supplied MongoDB filters and projections.

Clients send MongoDB syntax. Before it reaches the database every operator is checked
against an allow-list: anything that runs code (`$where`, `$function`, `$accumulator`)
or reaches outside the collection (`$lookup`, `$unionWith`, ...) is refused, and so is
any operator not listed here. Depth and size are bounded. Errors name the offending key.

The cost of evaluating what is allowed is bounded too, since the embedded database
evaluates a query in one thread and never interrupts one document's match: every
pattern must be in the safe regex subset (service.patterns), and expression operators
whose work or output can grow faster than the documents they read are refused
(`service.operators.GROWTH_OPERATORS`). A store may also name server-only fields
(`hidden`): no filter, expression, `$jsonSchema` or projection may name or reach them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import OperationFailure

from service.errors import InvalidQuery, SluiceError, is_transient, unavailable
from service.operators import (
    CODE_OPERATORS,
    EXPRESSION_OPERATORS,
    GROWTH_OPERATORS,
    QUERY_OPERATORS,
    ROOT_VARIABLES,
    SCHEMA_REACHING,
    SCHEMA_VALUES,
)
from service.patterns import RegexPolicy


@dataclass
class _Budget:
    max_depth: int
    nodes_left: int
    hidden: frozenset[str] = field(default_factory=frozenset)


class QueryValidator:
    """Checks filters and projections against the configured bounds."""

    def __init__(self, max_depth: int, max_nodes: int, patterns: RegexPolicy | None = None) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.patterns = patterns or RegexPolicy()

    def filter(
        self, query: Any, where: str = "query", hidden: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Return `query` if it is a safe filter document that cannot reach a `hidden`
        (server-only) top-level field; raise InvalidQuery."""
        if not isinstance(query, dict):
            raise InvalidQuery(f"{where} must be a JSON object", {"key": where})
        self._filter_doc(query, where, 1, self._budget(hidden))
        return query

    def projection(
        self, projection: Any, where: str = "projection", hidden: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Return `projection` (None becomes {}) if it is safe; raise InvalidQuery."""
        if projection is None:
            return {}
        if not isinstance(projection, dict):
            raise InvalidQuery(f"{where} must be a JSON object", {"key": where})
        budget = self._budget(hidden)
        for key, value in projection.items():
            path = f"{where}.{key}"
            self._count(budget, path, 2)
            if not isinstance(key, str) or not key or key.startswith("$"):
                raise InvalidQuery(f"{path}: projection keys must be field paths", {"key": key})
            self._field_name(key, path, budget)
            if isinstance(value, bool) or value in (0, 1):
                continue
            if isinstance(value, dict) and len(value) == 1:
                ((operator, argument),) = value.items()
                if operator == "$slice" and _is_slice(argument):
                    continue
                if operator == "$elemMatch":
                    self._filter_doc(argument, f"{path}.$elemMatch", 3, budget)
                    continue
            raise InvalidQuery(
                f"{path}: a projection value must be true/false, 1/0, "
                "{'$slice': n} or {'$elemMatch': filter}",
                {"key": key},
            )
        return projection

    def _budget(self, hidden: frozenset[str]) -> _Budget:
        return _Budget(self.max_depth, self.max_nodes, hidden)

    def _count(self, budget: _Budget, path: str, depth: int) -> None:
        budget.nodes_left -= 1
        if budget.nodes_left < 0:
            raise InvalidQuery(
                f"{path}: query is larger than SLUICE_MAX_QUERY_NODES ({self.max_nodes})",
                {"key": path, "limit": "SLUICE_MAX_QUERY_NODES"},
            )
        if depth > budget.max_depth:
            raise InvalidQuery(
                f"{path}: query is nested deeper than SLUICE_MAX_QUERY_DEPTH ({self.max_depth})",
                {"key": path, "limit": "SLUICE_MAX_QUERY_DEPTH"},
            )

    @staticmethod
    def _field_name(name: str, path: str, budget: _Budget) -> None:
        """Refuse a field path whose first part is a server-only field."""
        if name.split(".", 1)[0] in budget.hidden:
            raise InvalidQuery(f"{path}: {name} is not a field clients may query", {"key": name})

    def _filter_doc(self, doc: Any, path: str, depth: int, budget: _Budget) -> None:
        if not isinstance(doc, dict):
            raise InvalidQuery(f"{path} must be a JSON object", {"key": path})
        self._count(budget, path, depth)
        for key, value in doc.items():
            key_path = f"{path}.{key}"
            if key.startswith("$"):
                self._top_operator(key, value, key_path, depth + 1, budget)
            else:
                self._field_name(key, key_path, budget)
                self._field_condition(value, key_path, depth + 1, budget)

    def _top_operator(self, key: str, value: Any, path: str, depth: int, budget: _Budget) -> None:
        self._check_operator(key, path, QUERY_OPERATORS)
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                raise InvalidQuery(f"{path} needs a non-empty array of filters", {"key": key})
            for index, item in enumerate(value):
                self._filter_doc(item, f"{path}.{index}", depth + 1, budget)
        elif key == "$expr":
            self._expression(value, path, depth, budget)
        elif key == "$jsonSchema":
            self._schema(value, path, depth, budget, root=True)
        elif key == "$comment":
            if not isinstance(value, str):
                raise InvalidQuery(f"{path}: $comment must be a string", {"key": key})
        else:
            raise InvalidQuery(f"{path}: {key} is not valid at the top of a filter", {"key": key})

    def _field_condition(self, value: Any, path: str, depth: int, budget: _Budget) -> None:
        self._count(budget, path, depth)
        if isinstance(value, dict) and any(isinstance(k, str) and k.startswith("$") for k in value):
            for operator, argument in value.items():
                op_path = f"{path}.{operator}"
                self._check_operator(operator, op_path, QUERY_OPERATORS)
                if operator in ("$and", "$or", "$nor", "$expr", "$jsonSchema", "$comment"):
                    raise InvalidQuery(
                        f"{op_path}: {operator} is not valid on a field", {"key": operator}
                    )
                if operator == "$elemMatch":
                    self._elem_match(argument, op_path, depth + 1, budget)
                elif operator == "$not" and isinstance(argument, dict):
                    self._field_condition(argument, op_path, depth + 1, budget)
                elif operator == "$regex":
                    self.patterns.check(argument, value.get("$options", ""), op_path)
                elif operator == "$all" and isinstance(argument, list):
                    for index, item in enumerate(argument):
                        # {"$all": [{"$elemMatch": ...}]} is evaluated, not compared.
                        if isinstance(item, dict) and "$elemMatch" in item:
                            self._field_condition(item, f"{op_path}.{index}", depth + 2, budget)
                        else:
                            self._inert(item, f"{op_path}.{index}", depth + 2, budget)
                else:
                    self._inert(argument, op_path, depth + 1, budget)
        else:
            self._inert(value, path, depth, budget)

    def _elem_match(self, argument: Any, path: str, depth: int, budget: _Budget) -> None:
        if not isinstance(argument, dict):
            raise InvalidQuery(f"{path} needs an object", {"key": "$elemMatch"})
        # Either a filter on the element's fields or operators on the element itself.
        if any(k.startswith("$") and k not in ("$and", "$or", "$nor", "$expr") for k in argument):
            self._field_condition(argument, path, depth, budget)
        else:
            self._filter_doc(argument, path, depth, budget)

    def _expression(self, value: Any, path: str, depth: int, budget: _Budget) -> None:
        self._count(budget, path, depth)
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._expression(item, f"{path}.{index}", depth + 1, budget)
        elif isinstance(value, dict):
            for key, argument in value.items():
                key_path = f"{path}.{key}"
                if key.startswith("$"):
                    self._check_operator(key, key_path, EXPRESSION_OPERATORS)
                    if key == "$literal":
                        self._inert(argument, key_path, depth + 1, budget)
                        continue
                    if key == "$regexMatch":
                        self._regex_match(argument, key_path, depth + 1, budget)
                        continue
                    if key == "$getField" and budget.hidden:
                        _check_get_field(argument, key_path, budget)
                self._expression(argument, key_path, depth + 1, budget)
        elif isinstance(value, str) and value.startswith("$") and budget.hidden:
            if value.startswith(ROOT_VARIABLES):
                raise InvalidQuery(f"{path}: {value} is not allowed in this query", {"key": path})
            if not value.startswith("$$"):
                self._field_name(value[1:], path, budget)

    def _regex_match(self, argument: Any, path: str, depth: int, budget: _Budget) -> None:
        if not isinstance(argument, dict) or set(argument) - {"input", "regex", "options"}:
            raise InvalidQuery(
                f"{path} needs an object of input, regex and options", {"key": "$regexMatch"}
            )
        # A literal pattern only: one computed from the document could not be checked.
        regex, options = argument.get("regex"), argument.get("options", "")
        if any(isinstance(v, str) and v.startswith("$") for v in (regex, options)):
            raise InvalidQuery(f"{path}: regex and options must be literal", {"key": path})
        self.patterns.check(regex, options, f"{path}.regex")
        self._expression(argument.get("input"), f"{path}.input", depth, budget)

    def _schema(self, schema: Any, path: str, depth: int, budget: _Budget, root: bool) -> None:
        """Walk a `$jsonSchema`; `root` when it applies to the document itself."""
        self._count(budget, path, depth)
        if not isinstance(schema, dict):
            raise InvalidQuery(f"{path}: a schema must be an object", {"key": path})
        for keyword, value in schema.items():
            where = f"{path}.{keyword}"
            if keyword in SCHEMA_REACHING:
                raise InvalidQuery(
                    f"{where}: {keyword} applies to fields the query does not name and "
                    "is not allowed",
                    {"key": keyword},
                )
            if keyword in ("minProperties", "maxProperties") and root and budget.hidden:
                raise InvalidQuery(
                    f"{where}: counting a document's fields would count server-only ones",
                    {"key": keyword},
                )
            if keyword in SCHEMA_VALUES:
                self._inert(value, where, depth + 1, budget)
            elif keyword == "pattern":
                self.patterns.check(value, "", where)
            elif keyword == "required":
                if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                    raise InvalidQuery(f"{where} must be an array of names", {"key": keyword})
                for name in value if root else ():
                    self._field_name(name, where, budget)
                self._count(budget, where, depth + 1)
            elif keyword == "properties":
                if not isinstance(value, dict):
                    raise InvalidQuery(f"{where} must be an object", {"key": keyword})
                for name, sub in value.items():
                    if root:
                        self._field_name(name, f"{where}.{name}", budget)
                    self._schema(sub, f"{where}.{name}", depth + 2, budget, root=False)
            elif keyword in ("allOf", "anyOf", "oneOf"):
                if not isinstance(value, list) or not value:
                    raise InvalidQuery(f"{where} needs a non-empty array", {"key": keyword})
                for index, sub in enumerate(value):
                    self._schema(sub, f"{where}.{index}", depth + 2, budget, root)
            elif keyword == "not":
                self._schema(value, where, depth + 1, budget, root)
            elif keyword in ("items", "additionalItems"):
                if isinstance(value, bool) and keyword == "additionalItems":
                    continue
                for index, sub in enumerate(value if isinstance(value, list) else [value]):
                    self._schema(sub, f"{where}.{index}", depth + 2, budget, root=False)
            else:
                raise InvalidQuery(
                    f"{where}: unknown or disallowed $jsonSchema keyword {keyword}",
                    {"key": keyword},
                )

    def _inert(self, value: Any, path: str, depth: int, budget: _Budget) -> None:
        """Walk a value that is data, not operators: no key of it may start with `$`."""
        self._count(budget, path, depth)
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._inert(item, f"{path}.{index}", depth + 1, budget)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("$"):
                    # MongoDB may evaluate some ($regex inside $in, ...): none is allowed.
                    self._check_operator(key, f"{path}.{key}", frozenset())
                self._inert(item, f"{path}.{key}", depth + 1, budget)

    @staticmethod
    def _check_operator(key: str, path: str, allowed: frozenset[str]) -> None:
        if key in CODE_OPERATORS:
            raise InvalidQuery(
                f"{path}: {key} runs code on the server and is not allowed", {"key": key}
            )
        if key in GROWTH_OPERATORS:
            raise InvalidQuery(
                f"{path}: {key} is not allowed: its work or output can grow faster than "
                "the documents it reads",
                {"key": key},
            )
        if key not in allowed:
            raise InvalidQuery(f"{path}: unknown or disallowed operator {key}", {"key": key})


def _check_get_field(argument: Any, path: str, budget: _Budget) -> None:
    """`$getField` may name only a literal field that is not server-only."""
    name = argument.get("field") if isinstance(argument, dict) else argument
    if isinstance(name, dict) and set(name) == {"$literal"}:
        name = name["$literal"]
    if not isinstance(name, str) or name.startswith("$"):
        raise InvalidQuery(f"{path}: $getField must name a field literally", {"key": path})
    if name in budget.hidden:
        raise InvalidQuery(f"{path}: {name} is not a field clients may query", {"key": name})


def _is_slice(argument: Any) -> bool:
    if isinstance(argument, int) and not isinstance(argument, bool):
        return True
    return (
        isinstance(argument, list)
        and len(argument) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in argument)
    )


def find_projection(projection: dict[str, Any]) -> dict[str, Any]:
    """The projection actually sent: `id` always present, `_id` never."""
    wanted = {k: v for k, v in projection.items() if k != "_id"}
    inclusive = any(
        (v is True or (v == 1 and not isinstance(v, bool)))
        or (isinstance(v, dict) and "$elemMatch" in v)
        for v in wanted.values()
    )
    if inclusive:
        wanted["id"] = True
    elif wanted.get("id") in (0, False):
        del wanted["id"]
    wanted["_id"] = False
    return wanted


def refused(exc: OperationFailure) -> SluiceError:
    """The 400 for a query the database itself rejected (a bad regex, a bad $type...);
    the 503 if the database only ran out of time or hit a conflict."""
    if is_transient(exc):
        return unavailable(exc)
    message = (exc.details or {}).get("errmsg") or str(exc)
    return InvalidQuery(f"the database refused the query: {message}", {"code": exc.code})

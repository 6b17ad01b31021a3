"""Validation of client-supplied MongoDB filters and projections.

Clients send MongoDB syntax. Before it reaches the database every operator is checked
against an allow-list: anything that runs code (`$where`, `$function`, `$accumulator`)
or reaches outside the collection (`$lookup`, `$unionWith`, ...) is refused, and so is
any operator not listed here. Depth and size are bounded. Errors name the offending key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.errors import OperationFailure

from service.errors import InvalidQuery

QUERY_OPERATORS = frozenset(
    {
        # comparison
        "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
        # logical
        "$and", "$or", "$nor", "$not",
        # element and evaluation (no code)
        "$exists", "$type", "$regex", "$options", "$mod", "$expr", "$jsonSchema", "$comment",
        # arrays
        "$all", "$elemMatch", "$size",
        # bitwise
        "$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear",
    }
)  # fmt: skip

#: Aggregation expression operators allowed inside `$expr`: pure functions of the document.
EXPRESSION_OPERATORS = frozenset(
    {
        # arithmetic
        "$abs", "$add", "$ceil", "$divide", "$exp", "$floor", "$ln", "$log", "$log10",
        "$mod", "$multiply", "$pow", "$round", "$sqrt", "$subtract", "$trunc",
        # comparison and boolean
        "$cmp", "$eq", "$gt", "$gte", "$lt", "$lte", "$ne", "$and", "$not", "$or",
        # conditional
        "$cond", "$ifNull", "$switch",
        # arrays
        "$arrayElemAt", "$concatArrays", "$filter", "$first", "$in", "$indexOfArray",
        "$isArray", "$last", "$map", "$reduce", "$reverseArray", "$size", "$slice",
        "$sortArray", "$zip", "$allElementsTrue", "$anyElementTrue", "$setDifference",
        "$setEquals", "$setIntersection", "$setIsSubset", "$setUnion", "$maxN", "$minN",
        # strings
        "$concat", "$indexOfBytes", "$indexOfCP", "$ltrim", "$regexFind", "$regexFindAll",
        "$regexMatch", "$replaceAll", "$replaceOne", "$rtrim", "$split", "$strLenBytes",
        "$strLenCP", "$strcasecmp", "$substr", "$substrBytes", "$substrCP", "$toLower",
        "$toUpper", "$trim",
        # types
        "$convert", "$isNumber", "$toBool", "$toDate", "$toDecimal", "$toDouble", "$toInt",
        "$toLong", "$toString", "$type",
        # objects and literals
        "$getField", "$literal", "$mergeObjects", "$objectToArray", "$arrayToObject", "$let",
        # dates
        "$dateAdd", "$dateDiff", "$dateFromParts", "$dateFromString", "$dateSubtract",
        "$dateToParts", "$dateToString", "$dateTrunc", "$dayOfMonth", "$dayOfWeek",
        "$dayOfYear", "$hour", "$isoDayOfWeek", "$isoWeek", "$isoWeekYear", "$millisecond",
        "$minute", "$month", "$second", "$week", "$year",
        # accumulators usable as plain expressions over arrays
        "$avg", "$max", "$min", "$sum", "$stdDevPop", "$stdDevSamp",
    }
)  # fmt: skip

#: Named so the error can say why, rather than just "unknown".
CODE_OPERATORS = frozenset({"$where", "$function", "$accumulator"})

PROJECTION_OPERATORS = frozenset({"$slice", "$elemMatch"})


@dataclass
class _Budget:
    max_depth: int
    nodes_left: int


class QueryValidator:
    """Checks filters and projections against the configured bounds."""

    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes

    def filter(self, query: Any, where: str = "query") -> dict[str, Any]:
        """Return `query` if it is a safe filter document; raise InvalidQuery."""
        if not isinstance(query, dict):
            raise InvalidQuery(f"{where} must be a JSON object", {"key": where})
        self._filter_doc(query, where, 1, self._budget())
        return query

    def projection(self, projection: Any, where: str = "projection") -> dict[str, Any]:
        """Return `projection` (None becomes {}) if it is safe; raise InvalidQuery."""
        if projection is None:
            return {}
        if not isinstance(projection, dict):
            raise InvalidQuery(f"{where} must be a JSON object", {"key": where})
        budget = self._budget()
        for key, value in projection.items():
            path = f"{where}.{key}"
            self._count(budget, path, 2)
            if not isinstance(key, str) or not key or key.startswith("$"):
                raise InvalidQuery(f"{path}: projection keys must be field paths", {"key": key})
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

    def _budget(self) -> _Budget:
        return _Budget(self.max_depth, self.max_nodes)

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

    def _filter_doc(self, doc: Any, path: str, depth: int, budget: _Budget) -> None:
        if not isinstance(doc, dict):
            raise InvalidQuery(f"{path} must be a JSON object", {"key": path})
        self._count(budget, path, depth)
        for key, value in doc.items():
            key_path = f"{path}.{key}"
            if key.startswith("$"):
                self._top_operator(key, value, key_path, depth + 1, budget)
            else:
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
        elif key == "$jsonSchema" or key == "$comment":
            self._inert(value, path, depth, budget)
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
                elif operator == "$not":
                    if isinstance(argument, dict):
                        self._field_condition(argument, op_path, depth + 1, budget)
                    else:
                        self._inert(argument, op_path, depth + 1, budget)
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
                self._expression(argument, key_path, depth + 1, budget)

    def _inert(self, value: Any, path: str, depth: int, budget: _Budget) -> None:
        """Walk a value that is data, not operators: only its keys are checked for `$`."""
        self._count(budget, path, depth)
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._inert(item, f"{path}.{index}", depth + 1, budget)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in CODE_OPERATORS:
                    self._check_operator(key, f"{path}.{key}", frozenset())
                self._inert(item, f"{path}.{key}", depth + 1, budget)

    @staticmethod
    def _check_operator(key: str, path: str, allowed: frozenset[str]) -> None:
        if key in CODE_OPERATORS:
            raise InvalidQuery(
                f"{path}: {key} runs code on the server and is not allowed", {"key": key}
            )
        if key not in allowed:
            raise InvalidQuery(f"{path}: unknown or disallowed operator {key}", {"key": key})


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


def refused(exc: OperationFailure) -> InvalidQuery:
    """The 400 for a query the database itself rejected (a bad regex, a bad $type...)."""
    message = (exc.details or {}).get("errmsg") or str(exc)
    return InvalidQuery(f"the database refused the query: {message}", {"code": exc.code})

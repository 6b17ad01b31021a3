"""The operators and `$jsonSchema` keywords clients may use in queries, and those refused
by name so that the error can say why (service.query applies them)."""

from __future__ import annotations

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

#: Aggregation expression operators allowed inside `$expr`: pure functions of the
#: document whose work and output are bounded by the size of the query and the document.
EXPRESSION_OPERATORS = frozenset(
    {
        # arithmetic (no $pow: it grows integers without bound)
        "$abs", "$add", "$ceil", "$divide", "$exp", "$floor", "$ln", "$log", "$log10",
        "$mod", "$multiply", "$round", "$sqrt", "$subtract", "$trunc",
        # comparison and boolean
        "$cmp", "$eq", "$gt", "$gte", "$lt", "$lte", "$ne", "$and", "$not", "$or",
        # conditional
        "$cond", "$ifNull", "$switch",
        # arrays, each element read once
        "$arrayElemAt", "$first", "$in", "$indexOfArray", "$isArray", "$last",
        "$reverseArray", "$size", "$slice", "$allElementsTrue", "$anyElementTrue",
        # strings whose output is no larger than their input
        "$indexOfBytes", "$indexOfCP", "$ltrim", "$regexMatch", "$rtrim", "$strLenBytes",
        "$strLenCP", "$strcasecmp", "$substr", "$substrBytes", "$substrCP", "$toLower",
        "$toUpper", "$trim",
        # types
        "$convert", "$isNumber", "$toBool", "$toDate", "$toDecimal", "$toDouble", "$toInt",
        "$toLong", "$toString", "$type",
        # objects and literals
        "$getField", "$literal", "$let",
        # dates
        "$dateAdd", "$dateDiff", "$dateFromParts", "$dateFromString", "$dateSubtract",
        "$dateToParts", "$dateToString", "$dateTrunc", "$dayOfMonth", "$dayOfWeek",
        "$dayOfYear", "$hour", "$isoDayOfWeek", "$isoWeek", "$isoWeekYear", "$millisecond",
        "$minute", "$month", "$second", "$week", "$year",
        # accumulators usable as plain expressions over arrays
        "$avg", "$max", "$min", "$sum", "$stdDevPop", "$stdDevSamp",
    }
)  # fmt: skip

#: Refused, and named so the error can say why: iterating arrays (nestable, so the work
#: multiplies), building strings, arrays or objects from copies of their inputs (a
#: document's fields repeated), set algebra (quadratic), and unbounded exponentiation.
GROWTH_OPERATORS = frozenset(
    {
        "$reduce", "$map", "$filter", "$zip", "$sortArray", "$maxN", "$minN", "$range",
        "$setDifference", "$setEquals", "$setIntersection", "$setIsSubset", "$setUnion",
        "$concat", "$concatArrays", "$mergeObjects", "$objectToArray", "$arrayToObject",
        "$replaceAll", "$replaceOne", "$split", "$regexFind", "$regexFindAll", "$pow",
    }
)  # fmt: skip

#: Named so the error can say why, rather than just "unknown".
CODE_OPERATORS = frozenset({"$where", "$function", "$accumulator"})

#: `$jsonSchema` keywords allowed; each applies to the value it is given, and those
#: holding schemas are walked. Refused: `patternProperties`, `additionalProperties` and
#: `dependencies`, which apply to fields the query does not name (server-only ones too).
SCHEMA_VALUES = frozenset(
    {
        "bsonType", "type", "enum", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems",
        "uniqueItems", "minProperties", "maxProperties", "title", "description",
    }
)  # fmt: skip
SCHEMA_REACHING = frozenset({"patternProperties", "additionalProperties", "dependencies"})

#: Aggregation variables that reach the whole document, server-only fields included.
ROOT_VARIABLES = ("$$ROOT", "$$CURRENT")

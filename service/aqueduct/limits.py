"""Bounds on a GraphQL document, checked after parsing and before validation, and the
token scope an operation needs.

Both walk the selections with fragments expanded; the walk stops as soon as it has
seen SLUICE_AQUEDUCT_MAX_FIELDS selections, so a document of fragments that expand
exponentially, or cyclically, costs no more than a flat one.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from service.routing import Scope

#: Root mutation fields needing more than the `deposit` scope: the same as their native
#: counterparts (removing an experiment is DELETE /experiments/{ref}, an admin route).
MUTATION_SCOPES: dict[str, Scope] = {"removeExperiment": "admin"}


@dataclass
class _Walk:
    fragments: dict[str, FragmentDefinitionNode]
    max_depth: int
    max_fields: int
    seen: int = 0

    def visit(self, selections: SelectionSetNode | None, depth: int) -> None:
        if selections is None:
            return
        for selection in selections.selections:
            self.seen += 1
            if self.seen > self.max_fields:
                raise GraphQLError(
                    f"the operation selects more than {self.max_fields} fields "
                    "(SLUICE_AQUEDUCT_MAX_FIELDS), fragments expanded"
                )
            if isinstance(selection, FieldNode):
                if depth + 1 > self.max_depth:
                    raise GraphQLError(
                        f"the operation nests deeper than {self.max_depth} levels "
                        "(SLUICE_AQUEDUCT_MAX_DEPTH)",
                        selection,
                    )
                self.visit(selection.selection_set, depth + 1)
            elif isinstance(selection, InlineFragmentNode):
                self.visit(selection.selection_set, depth)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                # An unknown fragment is the validator's to report.
                if fragment is not None:
                    self.visit(fragment.selection_set, depth)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def check_limits(document: DocumentNode, max_depth: int, max_fields: int) -> None:
    """Raise GraphQLError if any operation of `document` nests deeper than `max_depth`
    or selects more than `max_fields` fields."""
    walk = _Walk(_fragments(document), max_depth, max_fields)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk.visit(definition.selection_set, 0)


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], found: set[str]
) -> None:
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            found.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _root_fields(selection.selection_set, fragments, found)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.pop(selection.name.value, None)  # each fragment once
            if fragment is not None:
                _root_fields(fragment.selection_set, fragments, found)


def required_scope(document: DocumentNode) -> Scope:
    """The scope a caller needs to run any operation of `document`: `read` for queries,
    `deposit` for mutations, more for the mutation fields of MUTATION_SCOPES.

    Every operation counts, whichever one the request names: the document is checked
    whole, like a native request body."""
    needed: Scope = "read"
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.operation is OperationType.QUERY:
            continue
        fields: set[str] = set()
        _root_fields(definition.selection_set, _fragments(document), fields)
        needed = "deposit" if needed == "read" else needed
        if any(MUTATION_SCOPES.get(name) == "admin" for name in fields):
            needed = "admin"
    return needed

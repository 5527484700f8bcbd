"""The FROM clause of a report query: the source table, joined along relations as the
field paths of the report need them, with the viewer's row filter on every table.

``Scope.resolve("lines.material.category")`` gives the column to use; each relation
on the way is joined once (LEFT OUTER, so a line without a material still counts),
and the row filter of the related form goes into the join condition: a related record
the viewer may not read shows as blank, never as its values. A subtable's lines are
only read together with their parent record, whose row filter applies to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_

from engines.expr.errors import suggestion
from engines.reports.sources import SourceField, Sources, SourceTable

PARENT = "parent"


class PathError(ValueError):
    """A field path that does not resolve; ``index`` is the part that is wrong."""

    def __init__(self, message: str, index: int = 0):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Resolved:
    column: ColumnElement
    field: SourceField
    path: tuple[str, ...]
    # Whether the value can be NULL: a nullable column, or any column of a record
    # reached through a relation (which may be missing or unreadable).
    nullable: bool = True


class Scope:
    def __init__(self, sources: Sources, source: SourceTable, *, parent_filter: bool = True):
        self.sources = sources
        self.source = source
        self.base = source.table.alias()
        self.from_clause = self.base
        self.conditions: list[ColumnElement] = []
        self._joins: dict[tuple[str, ...], tuple[object, SourceTable]] = {}
        own = sources.row_filter(source, self.base)
        if own is not None:
            self.conditions.append(own)
        if source.parent and parent_filter:
            # Lines are readable only with their parent record: join it when it is filtered.
            parent = sources.table_for(source.parent)
            alias = parent.table.alias()
            condition = sources.row_filter(parent, alias)
            if condition is not None:
                self._join_parent(parent, alias)
                self.conditions.append(condition)

    @property
    def id_column(self) -> ColumnElement:
        return self.base.c[self.source.id]

    def column_of(self, alias, source: SourceTable, f: SourceField) -> ColumnElement:
        column = alias.corresponding_column(f.column)
        if column is None:
            raise PathError(f"the column of a field of {source.name} is not on its table")
        return column

    def resolve(self, path) -> Resolved:
        parts = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
        alias, source = self.base, self.source
        joined = False
        for index, name in enumerate(parts):
            last = index == len(parts) - 1
            if name == PARENT and source.parent and PARENT not in source.fields:
                if last:
                    raise PathError(f"'{PARENT}' is the record a line belongs to: name one of "
                                    f"its fields, e.g. {PARENT}.{_first(self._parent())}", index)
                alias, source = self._parent_alias(parts[:index + 1])
                continue
            f = source.fields.get(name)
            if f is None:
                raise PathError(self._unknown(source, name, parts[:index]), index)
            column = self.column_of(alias, source, f)
            if last:
                return Resolved(column, f, parts, joined or getattr(column, "nullable", True))
            if f.type != "relation" or not f.target:
                raise PathError(f"'{name}' is not a relation, so '{name}.{parts[index + 1]}' "
                                "means nothing", index + 1)
            if index + 2 == len(parts) and parts[-1] == "id":
                # The id of the related record is the column itself: no join needed.
                return Resolved(column, SourceField(column, "integer", label=f.label), parts,
                                joined or getattr(column, "nullable", True))
            alias, source = self._relation_alias(parts[:index + 1], column, f)
            joined = True
        raise PathError("a field path is empty")

    def _unknown(self, source: SourceTable, name: str, owner: tuple[str, ...]) -> str:
        where = f"'{'.'.join(owner)}'" if owner else source.name
        if name in source.subtables:
            form = source.name
            return (f"'{name}' is a subtable of {form}: a report over its lines uses the "
                    f"source \"{form}.{name}\"")
        known = set(source.fields) | ({PARENT} if source.parent else set())
        return f"{where} has no field '{name}'{suggestion(name, known)}"

    def _parent(self) -> SourceTable:
        return self.sources.table_for(self.source.parent)

    def _join_parent(self, parent: SourceTable, alias):
        on = alias.c[parent.id] == self.base.c[self.source.parent_id]
        self.from_clause = self.from_clause.join(alias, on)
        self._joins[(PARENT,)] = (alias, parent)
        return alias, parent

    def _parent_alias(self, prefix):
        if prefix in self._joins:
            return self._joins[prefix]
        parent = self._parent()
        return self._join_parent(parent, parent.table.alias())

    def _relation_alias(self, prefix, column, f: SourceField):
        if prefix in self._joins:
            return self._joins[prefix]
        try:
            target = self.sources.table_for(f.target)
        except KeyError:
            raise PathError(f"'{prefix[-1]}' links to the form '{f.target}', which does not "
                            "exist or which you may not read", len(prefix) - 1) from None
        alias = target.table.alias()
        on = alias.c[target.id] == column
        visible = self.sources.row_filter(target, alias)
        if visible is not None:
            on = and_(on, visible)
        self.from_clause = self.from_clause.outerjoin(alias, on)
        self._joins[prefix] = (alias, target)
        return alias, target


def _first(source: SourceTable) -> str:
    return next((k for k in source.fields if k != source.id), "name")

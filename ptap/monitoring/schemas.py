"""JSON shape of the indicators (API and JSON export): hidden cells say so, never their value."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, Field

from ptap.monitoring.queries import DurationRow, Filters, IndicatorTable
from ptap.monitoring.secrecy import THRESHOLD, Cell


class CellOut(BaseModel):
    """A count: its value, or `suppressed: true` and no value (1 to 10, or revealing one)."""

    value: int | None = None
    suppressed: bool = False

    @classmethod
    def of(cls, cell: Cell) -> Self:
        """Build the output of a protected cell."""
        return cls(suppressed=True) if cell.suppressed else cls(value=cell.value)


class ShareOut(BaseModel):
    """A share between 0 and 1, `suppressed: true` when it would reveal a hidden count, or
    neither (value null) when there is nothing to divide."""

    value: float | None = None
    suppressed: bool = False

    @classmethod
    def of(cls, share: float | None, empty: bool = False) -> Self:
        """Build the output of a protected share."""
        if empty:
            return cls()
        return cls(suppressed=True) if share is None else cls(value=round(share, 4))


class ColumnOut(BaseModel):
    """A column of an indicator's table."""

    key: str
    label: str


class RowOut(BaseModel):
    """One month of a count indicator."""

    month: str = Field(description="AAAA-MM")
    cells: list[CellOut]
    total: CellOut | None = None
    share: ShareOut | None = None


class DurationRowOut(BaseModel):
    """One month (or the whole period, month null) of a duration indicator."""

    month: str | None
    people: CellOut
    median: str | None = Field(description="Tranche de la médiane ; null si moins de 11 personnes")
    p90: str | None = Field(description="Tranche du 90e centile ; null si moins de 11 personnes")


class IndicatorOut(BaseModel):
    """One indicator: its table (months in rows), or unavailable."""

    key: str
    title: str
    section: str
    note: str
    available: bool
    kind: str
    columns: list[ColumnOut]
    share_label: str | None = None
    rows: list[RowOut] = []
    totals: list[CellOut | None] = Field(
        default=[], description="La ligne de la période ; null pour un stock (personnes suivies)"
    )
    total: CellOut | None = None
    total_share: ShareOut | None = None
    durations: list[DurationRowOut] = []

    @classmethod
    def of(cls, table: IndicatorTable) -> Self:
        """Build the output of a protected table."""
        ind = table.indicator
        has_share = ind.share is not None
        return cls(
            key=ind.key,
            title=ind.title,
            section=ind.section,
            note=ind.note,
            available=ind.available,
            kind=ind.kind,
            columns=[ColumnOut(key=k, label=lbl) for k, lbl in ind.columns],
            share_label=ind.share[0] if ind.share else None,
            rows=[
                RowOut(
                    month=f"{r.month:%Y-%m}",
                    cells=[CellOut.of(c) for c in r.cells],
                    total=CellOut.of(r.total) if r.total is not None else None,
                    share=ShareOut.of(r.share, r.share_empty) if has_share else None,
                )
                for r in table.rows
            ],
            totals=[CellOut.of(c) if c is not None else None for c in table.totals],
            total=CellOut.of(table.total) if table.total is not None else None,
            total_share=ShareOut.of(table.total_share) if has_share and table.totals else None,
            durations=[_duration(d) for d in table.durations],
        )


def _duration(row: DurationRow) -> DurationRowOut:
    return DurationRowOut(
        month=f"{row.month:%Y-%m}" if row.month else None,
        people=CellOut.of(row.people),
        median=row.median,
        p90=row.p90,
    )


class FiltersOut(BaseModel):
    """The filters applied."""

    territory: int | None
    team: int | None
    from_month: str = Field(alias="from")
    to_month: str = Field(alias="to")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class IndicatorsOut(BaseModel):
    """Every indicator for a territory, a team or every visible team, month by month."""

    filters: FiltersOut
    threshold: int = Field(description="Plus petit effectif affiché (secret statistique)")
    indicators: list[IndicatorOut]
    figures_as_of: datetime | None = Field(
        default=None,
        description="Renseigné quand les chiffres protégés datent d'avant les dernières "
        "données : instant de leur calcul (ils seront recalculés au prochain passage)",
    )

    @classmethod
    def of(
        cls, filters: Filters, tables: list[IndicatorTable], as_of: datetime | None = None
    ) -> Self:
        """Build the API answer."""
        return cls(
            filters=FiltersOut.model_validate(
                {
                    "territory": filters.territory_id,
                    "team": filters.team_id,
                    "from": f"{filters.first:%Y-%m}",
                    "to": f"{filters.last:%Y-%m}",
                }
            ),
            threshold=THRESHOLD,
            indicators=[IndicatorOut.of(t) for t in tables],
            figures_as_of=as_of,
        )

"""Meters: how usage events of one CloudEvents ``type`` become a quantity per client, site and dimensions.

The definition (type, aggregation, paths, dimensions) is immutable once created: stored events record which
meters they matched at ingest, and rollups are keyed by the meter's dimensions, so changing a definition
would silently re-interpret history. Create a new meter (new key) and archive the old one instead.
Paths are stored as text arrays (``{usage,tokens}``) because that is what ``jsonb #>>`` takes.
"""

from __future__ import annotations

from sqlalchemy import ARRAY, Boolean, CheckConstraint, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin

AGGREGATIONS = ("sum", "count", "max", "unique_count", "latest")
MAX_DIMENSIONS = 4


class Meter(IdMixin, TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "key"),
        CheckConstraint("aggregation IN ('sum', 'count', 'max', 'unique_count', 'latest')", name="aggregation"),
        CheckConstraint("(aggregation = 'count') = (value_path IS NULL)", name="value_path"),
        CheckConstraint("status IN ('active', 'archived')", name="status"),
        CheckConstraint("cardinality(dim_names) <= 4", name="dims"),
        Index("ix_meters_org_type", "org_id", "event_type"),
    )

    key: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(200), nullable=False)
    aggregation: Mapped[str] = mapped_column(String(16), nullable=False)
    value_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    provider_cost_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    site_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    dim_names: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    dim1_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    dim2_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    dim3_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    dim4_path: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    unit: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    # Usage only grows unless the meter carries corrections: negative values and costs are refused otherwise.
    allow_negative: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())

    @property
    def value_path_text(self) -> str | None:
        return ".".join(self.value_path) if self.value_path else None

    @property
    def provider_cost_path_text(self) -> str | None:
        return ".".join(self.provider_cost_path) if self.provider_cost_path else None

    @property
    def site_path_text(self) -> str | None:
        return ".".join(self.site_path) if self.site_path else None

    @property
    def dim_paths(self) -> list[list[str]]:
        paths = [self.dim1_path, self.dim2_path, self.dim3_path, self.dim4_path]
        return [p for p in paths[: len(self.dim_names)] if p is not None]

    @property
    def group_by(self) -> dict[str, str]:
        """The API shape: dimension name -> dotted path into ``data`` (the site is always ``site``)."""
        return {name: ".".join(path) for name, path in zip(self.dim_names, self.dim_paths, strict=True)}

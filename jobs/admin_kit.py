"""The admin kit for big tables: changelists stay fast over millions of rows (no DISTINCT, no full COUNT(*),
no scans). Any app's admin may use it; it sits with the engine because the run table is the biggest.

What the stock admin does and what replaces it here:

- ``list_filter`` on a column lists its values with SELECT DISTINCT over the whole table: the job filter
  lists the job registry instead (``JobNameFilter``), ``VisibleOwnerFilter`` the viewer's
  owners from the small owners table.
- ``date_hierarchy`` lists years, months and days with DISTINCT over truncated dates:
  ``DateDrillDownFilter`` drills down year → month → day from the first and last row (two index reads)
  and filters with a half-open range the index answers.
- The paginator counts every matching row: ``CappedCountPaginator`` counts at most ``COUNT_CAP`` rows and
  takes PostgreSQL's planner estimate for an unfiltered table.
- ``icontains`` search scans the table: ``IndexedRunSearchMixin`` turns a term into indexed lookups (a run
  id, the registered job names containing it, the viewer's owners whose name contains it).
- Facet counts (Django 5's "show counts") would count per filter choice: ``ScaledChangeListMixin`` turns
  them off and the full result count with them.
"""

import calendar
from datetime import date, datetime, timedelta

from django.contrib import admin
from django.contrib.admin.options import ShowFacets
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

from jobs.registry import registered_jobs
from tenants.models import Owner
from tenants.scoping import scope_queryset

# Exact counts stop here: enough for page 1,000 at 100 rows per page, cheap to count on an index.
COUNT_CAP = 100_000


class CappedCountPaginator(Paginator):
    """A paginator that never counts more than ``COUNT_CAP`` rows.

    An unfiltered PostgreSQL table reports the planner's estimate (``pg_class.reltuples``) when that is
    above the cap; anything else is counted up to the cap. ``count_is_exact`` says which one it was and
    ``count_note`` ("about", "at least") says it to people (admin/pagination.html shows it).
    """

    count_is_exact = True
    count_note = ""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        if not queryset.query.has_filters():
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate > COUNT_CAP:
                self.count_is_exact, self.count_note = False, "about"
                return estimate
        counted = queryset.order_by()[: COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.count_is_exact, self.count_note = False, "at least"
            return COUNT_CAP
        return counted


def _estimated_rows(queryset: QuerySet) -> int | None:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    # -1 means "never analysed"; then the capped count decides.
    return row[0] if row and row[0] >= 0 else None


class ScaledChangeListMixin:
    """ModelAdmin options for big tables: capped counts, no full result count, no facet counts."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER


class JobNameFilter(admin.SimpleListFilter):
    """Registered job names, from the registry rather than a DISTINCT over the table."""

    title = "job"
    parameter_name = "job"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(definition.name, definition.name) for definition in registered_jobs()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(job_name=self.value()) if self.value() else queryset


class VisibleOwnerFilter(admin.SimpleListFilter):
    """Filter by owner, offering the owners the viewer may see (one query on the small owners table)."""

    title = "owner"
    parameter_name = "owner_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        owners = scope_queryset(Owner.objects.order_by("name"), request.user, "")
        return [(str(owner_id), name) for owner_id, name in owners.values_list("id", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(owner_id=int(value))


class DateDrillDownFilter(admin.FieldListFilter):
    """A year → month → day drill-down for a datetime field, without DISTINCT over the table.

    The years offered run from the first to the last row (two reads of the field's index); months and days
    are the calendar's. The chosen period is filtered as ``field >= start AND field < end`` in the current
    time zone, which the field's index answers. Use as ``list_filter = [("slot", DateDrillDownFilter)]``.
    """

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        self.year_key = f"{field_path}__year"
        self.month_key = f"{field_path}__month"
        self.day_key = f"{field_path}__day"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = f"{getattr(field, 'verbose_name', field_path)} (drill down)"
        self.model = model
        self.year, self.month, self.day = self._chosen()

    def expected_parameters(self) -> list[str]:
        return [self.year_key, self.month_key, self.day_key]

    def _chosen(self) -> tuple[int | None, int | None, int | None]:
        def number(key: str) -> int | None:
            value = self.used_parameters.get(key)
            value = value[-1] if isinstance(value, list) else value
            return int(value) if value and str(value).isdigit() else None

        year, month, day = number(self.year_key), number(self.month_key), number(self.day_key)
        if year is None or not 1 <= year <= 9999:
            return None, None, None
        if month is None or not 1 <= month <= 12:
            return year, None, None
        if day is None or not 1 <= day <= calendar.monthrange(year, month)[1]:
            return year, month, None
        return year, month, day

    def period(self) -> tuple[datetime, datetime] | None:
        """The chosen [start, end) in the current time zone, or None when no period is chosen."""
        if self.year is None:
            return None
        if self.day is not None:
            first = date(self.year, self.month, self.day)
            after = first + timedelta(days=1)
        elif self.month is not None:
            first = date(self.year, self.month, 1)
            after = date(self.year + (self.month == 12), self.month % 12 + 1, 1)
        else:
            first, after = date(self.year, 1, 1), date(self.year + 1, 1, 1)
        zone = timezone.get_current_timezone()
        return (
            datetime.combine(first, datetime.min.time(), tzinfo=zone),
            datetime.combine(after, datetime.min.time(), tzinfo=zone),
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        period = self.period()
        if period is None:
            return queryset
        return queryset.filter(**{f"{self.field_path}__gte": period[0], f"{self.field_path}__lt": period[1]})

    @cached_property
    def bounds(self) -> tuple[date, date] | None:
        manager = self.model._default_manager
        first = manager.order_by(self.field_path).values_list(self.field_path, flat=True).first()
        last = manager.order_by(f"-{self.field_path}").values_list(self.field_path, flat=True).first()
        if first is None or last is None:
            return None
        return timezone.localtime(first).date(), timezone.localtime(last).date()

    def choices(self, changelist):
        clear = [self.year_key, self.month_key, self.day_key]
        yield {
            "selected": self.year is None,
            "query_string": changelist.get_query_string(remove=clear),
            "display": "Any date",
        }
        if self.bounds is None:
            return
        first, last = self.bounds
        if self.year is None:
            for year in range(last.year, first.year - 1, -1):
                yield self._choice(changelist, str(year), year=year)
            return
        yield self._choice(changelist, f"{self.year}", year=self.year, selected=self.month is None)
        if self.month is None:
            for month in range(1, 13):
                if (first.year, first.month) <= (self.year, month) <= (last.year, last.month):
                    yield self._choice(
                        changelist, f"· {calendar.month_name[month]}", year=self.year, month=month
                    )
            return
        yield self._choice(
            changelist,
            f"· {calendar.month_name[self.month]}",
            year=self.year,
            month=self.month,
            selected=self.day is None,
        )
        for day in range(1, calendar.monthrange(self.year, self.month)[1] + 1):
            if first <= date(self.year, self.month, day) <= last:
                yield self._choice(
                    changelist,
                    f"·· {day}",
                    year=self.year,
                    month=self.month,
                    day=day,
                    selected=self.day == day,
                )

    def _choice(
        self,
        changelist,
        display: str,
        *,
        year: int,
        month: int | None = None,
        day: int | None = None,
        selected: bool = False,
    ) -> dict:
        params = {self.year_key: year}
        remove = [self.month_key, self.day_key]
        if month is not None:
            params[self.month_key] = month
            remove.remove(self.month_key)
        if day is not None:
            params[self.day_key] = day
            remove.remove(self.day_key)
        return {
            "selected": selected,
            "query_string": changelist.get_query_string(params, remove),
            "display": display,
        }


class IndexedRunSearchMixin:
    """Search job runs with lookups an index answers, instead of ``icontains`` over the whole table.

    A number matches the run with that id. Other terms match by job name (every registered job whose name
    contains the term, case-insensitively, or exactly the term) or by owner (the viewer's owners whose
    name or slug contains it). Each
    becomes an equality or IN lookup on an indexed column; the owners table is small.
    """

    search_help_text = "A run id (a number), or part of a job name or of an owner's name."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(run_search_q(request, term)), False


def run_search_q(request: HttpRequest, term: str) -> Q:
    """The indexed lookups a search term stands for (see ``IndexedRunSearchMixin``)."""
    if term.isdigit():
        # A number is a run id ("owner-13" would otherwise drag in every run of that owner).
        return Q(pk=int(term)) if int(term) < 2**63 else Q(pk__in=[])
    wanted = term.casefold()
    job_names = [definition.name for definition in registered_jobs() if wanted in definition.name.casefold()]
    owners = scope_queryset(
        Owner.objects.filter(Q(name__icontains=term) | Q(slug__icontains=term)), request.user, ""
    )
    # The exact name too: runs of a job no longer registered stay findable.
    return Q(job_name__in=[*job_names, term]) | Q(
        owner_id__in=list(owners.values_list("id", flat=True)[:100])
    )

"""The four scan operations over ``AirsClient``: input checks, chunking, fan-out and ordering.

Every id a caller sees is the ``owner``'s (``scan.owned_ids``): AIRS ids are wrapped on the way
out and unwrapped on the way in, so a caller never reaches another principal's scans.

Each operation first charges ``charge`` with the AIRS requests it is about to send (the
per-credential quota, ``limits``: it raises ``LimitExceeded`` before anything is sent).

Raises ``InputProblem`` for input that cannot be sent and ``AirsError`` when AIRS failed for
the whole call; per-item failures of batch and query calls are reported inside the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from aisecurity.generated_openapi_client.models.async_scan_object import AsyncScanObject

from airs_mcp.config import Settings
from airs_mcp.limits.limiter import Charge, free
from airs_mcp.scan import batching, convert, owned_ids, validation
from airs_mcp.scan.airs_client import AirsClient, AirsError
from airs_mcp.scan.models import (
    BatchItemResult,
    BatchScanResult,
    ReportEntry,
    ScanItem,
    ScanReportsOutput,
    ScanResultEntry,
    ScanResultsOutput,
    ScanSummary,
)
from airs_mcp.scan.owned_ids import ScanIds
from airs_mcp.scan.validation import InputProblem

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")  # what AIRS answers a query with
E = TypeVar("E", ScanResultEntry, ReportEntry)  # what a query tool returns per id
Missing = Literal["not_found", "error"]  # an id AIRS gave no entry for, and why


async def _bounded(limit: int, work: Sequence[T], run: Callable[[T], Awaitable[R]]) -> list[R]:
    semaphore = asyncio.Semaphore(limit)

    async def one(unit: T) -> R:
        async with semaphore:
            return await run(unit)

    return list(await asyncio.gather(*(one(unit) for unit in work)))


def _only_airs_errors(errors: list[AirsError | None]) -> AirsError | None:
    """The first AIRS error when every unit of work failed, else None."""
    if errors and all(e is not None for e in errors):
        return errors[0]
    return None


def _owned_summary(summary: ScanSummary, owner: ScanIds) -> ScanSummary:
    """``summary`` with ``owner``'s ids in place of AIRS's."""
    return summary.model_copy(
        update={
            "scan_id": owner.scan_id(summary.scan_id),
            "report_id": owner.report_id(summary.report_id),
        }
    )


def _owned_result(entry: ScanResultEntry, owner: ScanIds) -> ScanResultEntry:
    return entry.model_copy(
        update={
            "scan_id": owner.scan_id(entry.scan_id),
            "result": None if entry.result is None else _owned_summary(entry.result, owner),
        }
    )


def _owned_report(entry: ReportEntry, owner: ScanIds) -> ReportEntry:
    scan_id = None if entry.scan_id is None else owner.scan_id(entry.scan_id)
    return entry.model_copy(
        update={"report_id": owner.report_id(entry.report_id), "scan_id": scan_id}
    )


class ScanService:
    def __init__(self, client: AirsClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._scan_id_key = owned_ids.derive_key(settings.api_key)

    def ids_for(self, principal: bytes) -> ScanIds:
        """The ids of ``principal``'s scans (``auth.caller.principal``)."""
        return ScanIds(self._scan_id_key, principal)

    async def inline(self, item: ScanItem, owner: ScanIds, charge: Charge = free) -> ScanSummary:
        item = validation.check_item(item)
        validation.check_inline_size(
            convert.wire_size(convert.scan_request(item, self.client.profile))
        )
        charge(1)
        response = await self.client.sync_scan(
            convert.content(item),
            tr_id=item.tr_id,
            session_id=item.session_id,
            metadata=convert.metadata(item),
        )
        return _owned_summary(convert.summary(response), owner)

    async def batch(
        self, items: list[ScanItem], owner: ScanIds, charge: Charge = free
    ) -> BatchScanResult:
        validation.check_count(len(items), "items", self.settings.max_batch_items)
        results = [BatchItemResult(index=i) for i in range(len(items))]
        ready: list[tuple[int, AsyncScanObject, int]] = []
        for index, raw in enumerate(items):
            try:
                item = validation.check_item(raw)
            except InputProblem as exc:
                results[index].error = str(exc)
                continue
            obj = convert.async_object(index, item, self.client.profile)
            ready.append((index, obj, convert.wire_size(obj)))
        chunks, oversized = batching.plan_chunks([size for _, _, size in ready])
        for position in oversized:
            index, _, size = ready[position]
            results[index].error = validation.oversized_batch_item(size)
        charge(len(chunks))

        async def send(chunk: list[int]) -> AirsError | None:
            members = [ready[p] for p in chunk]
            try:
                response = await self.client.async_scan([obj for _, obj, _ in members])
            except AirsError as exc:
                for index, _, _ in members:
                    results[index].error = exc.message
                return exc
            for index, _, _ in members:
                results[index].req_id = index
                results[index].scan_id = owner.scan_id(response.scan_id)
                results[index].report_id = owner.report_id(
                    response.report_id or "R" + response.scan_id
                )
            return None

        errors = await _bounded(self.settings.batch_concurrency, chunks, send)
        if (failure := _only_airs_errors(errors)) is not None and len(ready) == len(items):
            raise failure
        failed = sum(1 for r in results if r.error)
        return BatchScanResult(
            items=results, submitted=len(items) - failed, failed=failed, requests=len(chunks)
        )

    async def results(
        self, scan_ids: list[str], owner: ScanIds, charge: Charge = free
    ) -> ScanResultsOutput:
        """``owner``'s results for ``scan_ids``; an id not issued to ``owner`` reads as
        'not_found' without reaching AIRS, exactly like one AIRS does not know."""
        ids = validation.query_ids(scan_ids, report=False, limit=self.settings.max_batch_items)
        opened = {one_id: owner.open_scan_id(one_id) for one_id in ids}

        def stub(scan_id: str, status: Missing, error: str | None) -> ScanResultEntry:
            return ScanResultEntry(scan_id=scan_id, status=status, error=error)

        answered = await self._query(
            [airs_id for airs_id in opened.values() if airs_id is not None],
            fetch=self.client.query_scan_ids,
            to_entry=convert.result_entry,
            entry_id=lambda entry: entry.scan_id,
            stub=stub,
            charge=charge,
        )
        entries: list[ScanResultEntry] = []
        for one_id, airs_id in opened.items():
            if airs_id is None:
                entries.append(stub(one_id, "not_found", None))
            else:
                entries.extend(_owned_result(entry, owner) for entry in answered[airs_id])
        return ScanResultsOutput(results=entries)

    async def reports(
        self, report_ids: list[str], owner: ScanIds, charge: Charge = free
    ) -> ScanReportsOutput:
        """``owner``'s reports for ``report_ids``, as ``results`` treats scan ids."""
        ids = validation.query_ids(report_ids, report=True, limit=self.settings.max_batch_items)
        opened = {one_id: owner.open_report_id(one_id) for one_id in ids}

        def stub(report_id: str, status: Missing, error: str | None) -> ReportEntry:
            return ReportEntry(report_id=report_id, status=status, error=error)

        answered = await self._query(
            [airs_id for airs_id in opened.values() if airs_id is not None],
            fetch=self.client.query_report_ids,
            to_entry=convert.report_entry,
            entry_id=lambda entry: entry.report_id,
            stub=stub,
            charge=charge,
        )
        entries: list[ReportEntry] = []
        for one_id, airs_id in opened.items():
            if airs_id is None:
                entries.append(stub(one_id, "not_found", None))
            else:
                entries.extend(_owned_report(entry, owner) for entry in answered[airs_id])
        return ScanReportsOutput(reports=entries)

    async def _query(
        self,
        ids: list[str],
        *,
        fetch: Callable[[list[str]], Awaitable[Sequence[S]]],
        to_entry: Callable[[S], E],
        entry_id: Callable[[E], str],
        stub: Callable[[str, Missing, str | None], E],
        charge: Charge,
    ) -> dict[str, list[E]]:
        """Look ``ids`` (AIRS ids) up in groups AIRS accepts, several groups at a time.

        Returns, for each id, every entry AIRS has for it (sorted by req_id), or one ``stub``
        saying it was not found or that its group's query failed; raises the ``AirsError`` when
        every group failed.
        """
        found: dict[str, list[E]] = {}
        failed: dict[str, str] = {}

        async def query(group: list[str]) -> AirsError | None:
            try:
                answers = await fetch(group)
            except AirsError as exc:
                failed.update(dict.fromkeys(group, exc.message))
                return exc
            for answer in answers:
                entry = to_entry(answer)
                found.setdefault(entry_id(entry), []).append(entry)
            return None

        groups = batching.groups(ids)
        charge(len(groups))
        errors = await _bounded(self.settings.batch_concurrency, groups, query)
        if (failure := _only_airs_errors(errors)) is not None:
            raise failure
        out: dict[str, list[E]] = {}
        for one_id in ids:
            if one_id in failed:
                out[one_id] = [stub(one_id, "error", failed[one_id])]
            elif one_id in found:
                out[one_id] = sorted(found[one_id], key=lambda e: e.req_id or 0)
            else:
                out[one_id] = [stub(one_id, "not_found", None)]
        return out

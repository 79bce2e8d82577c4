"""The four scan operations over ``AirsClient``: validation, chunking, fan-out and ordering.

Raises ``InputProblem`` for input that cannot be sent and ``AirsError`` when AIRS failed for
the whole call; per-item failures of batch and query calls are reported inside the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aisecurity.generated_openapi_client.models.async_scan_object import AsyncScanObject

from airs_mcp import batching, convert, validation
from airs_mcp.airs_client import AirsClient, AirsError
from airs_mcp.config import Settings
from airs_mcp.models import (
    BatchItemResult,
    BatchScanResult,
    ReportEntry,
    ScanItem,
    ScanReportsOutput,
    ScanResultEntry,
    ScanResultsOutput,
    ScanSummary,
)
from airs_mcp.validation import InputProblem

T = TypeVar("T")
R = TypeVar("R")


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


class ScanService:
    def __init__(self, client: AirsClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def inline(self, item: ScanItem) -> ScanSummary:
        item = validation.check_item(item)
        validation.check_inline_size(
            convert.wire_size(convert.scan_request(item, self.client.profile))
        )
        response = await self.client.sync_scan(
            convert.content(item),
            tr_id=item.tr_id,
            session_id=item.session_id,
            metadata=convert.metadata(item),
        )
        return convert.summary(response)

    async def batch(self, items: list[ScanItem]) -> BatchScanResult:
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
                results[index].scan_id = response.scan_id
                results[index].report_id = response.report_id or "R" + response.scan_id
            return None

        errors = await _bounded(self.settings.batch_concurrency, chunks, send)
        if (failure := _only_airs_errors(errors)) is not None and len(ready) == len(items):
            raise failure
        failed = sum(1 for r in results if r.error)
        return BatchScanResult(
            items=results, submitted=len(items) - failed, failed=failed, requests=len(chunks)
        )

    async def results(self, scan_ids: list[str]) -> ScanResultsOutput:
        ids = validation.query_ids(scan_ids, report=False, limit=self.settings.max_batch_items)
        found: dict[str, list[ScanResultEntry]] = {}
        failed: dict[str, str] = {}

        async def query(group: list[str]) -> AirsError | None:
            try:
                entries = await self.client.query_scan_ids(group)
            except AirsError as exc:
                failed.update(dict.fromkeys(group, exc.message))
                return exc
            for entry in entries:
                converted = convert.result_entry(entry)
                found.setdefault(converted.scan_id, []).append(converted)
            return None

        errors = await _bounded(self.settings.batch_concurrency, batching.groups(ids), query)
        if (failure := _only_airs_errors(errors)) is not None:
            raise failure
        out: list[ScanResultEntry] = []
        for scan_id in ids:
            if scan_id in failed:
                out.append(ScanResultEntry(scan_id=scan_id, status="error", error=failed[scan_id]))
            elif scan_id in found:
                out.extend(sorted(found[scan_id], key=lambda e: e.req_id or 0))
            else:
                out.append(ScanResultEntry(scan_id=scan_id, status="not_found"))
        return ScanResultsOutput(results=out)

    async def reports(self, report_ids: list[str]) -> ScanReportsOutput:
        ids = validation.query_ids(report_ids, report=True, limit=self.settings.max_batch_items)
        found: dict[str, list[ReportEntry]] = {}
        failed: dict[str, str] = {}

        async def query(group: list[str]) -> AirsError | None:
            try:
                reports = await self.client.query_report_ids(group)
            except AirsError as exc:
                failed.update(dict.fromkeys(group, exc.message))
                return exc
            for report in reports:
                converted = convert.report_entry(report)
                found.setdefault(converted.report_id, []).append(converted)
            return None

        errors = await _bounded(self.settings.batch_concurrency, batching.groups(ids), query)
        if (failure := _only_airs_errors(errors)) is not None:
            raise failure
        out: list[ReportEntry] = []
        for report_id in ids:
            if report_id in failed:
                out.append(
                    ReportEntry(report_id=report_id, status="error", error=failed[report_id])
                )
            elif report_id in found:
                out.extend(sorted(found[report_id], key=lambda e: e.req_id or 0))
            else:
                out.append(ReportEntry(report_id=report_id, status="not_found"))
        return ScanReportsOutput(reports=out)

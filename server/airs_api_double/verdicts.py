"""Deterministic verdicts from the scanned content (the rules are in the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PROMPT_FLAGS = (
    "url_cats",
    "dlp",
    "injection",
    "toxic_content",
    "malicious_code",
    "agent",
    "topic_violation",
    "source_code",
)
RESPONSE_FLAGS = (
    "url_cats",
    "dlp",
    "db_security",
    "toxic_content",
    "malicious_code",
    "agent",
    "ungrounded",
    "topic_violation",
    "source_code",
)

INJECTION_RE = re.compile(
    r"ignore\s+(all\s+)?(previous|prior|above)\s+instructions|disregard\s+(your|the)\s+system\s+prompt",
    re.IGNORECASE,
)
URL_RE = re.compile(r"https?://([A-Za-z0-9.-]+)[^\s\"'<>]*", re.IGNORECASE)
BAD_URL_DOMAINS = ("malware.test", "phishing.test")
CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
TOXIC_RE = re.compile(
    r"\bi\s+will\s+(kill|hurt)\s+you\b|\byou\s+worthless\s+idiot\b", re.IGNORECASE
)
MALICIOUS_CODE_RE = re.compile(
    r"rm\s+-rf\s+/(?![\w.])|eval\(\s*base64|powershell\s+-enc\b|curl\s+[^|\n]*\|\s*(ba)?sh\b",
    re.IGNORECASE,
)


@dataclass
class SideVerdict:
    """Detections for one side (prompt or response) of a scanned item."""

    flags: dict[str, bool]
    bad_urls: list[str] = field(default_factory=list)
    masked: dict[str, Any] | None = None

    @property
    def detected(self) -> bool:
        return any(self.flags.values())


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            spans.append((match.start(), match.end()))
    return spans


def mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i].isdigit():
                chars[i] = "X"
    return "".join(chars)


def bad_urls(text: str) -> list[str]:
    found = []
    for match in URL_RE.finditer(text):
        host = match.group(1).lower().rstrip(".")
        if any(host == d or host.endswith("." + d) for d in BAD_URL_DOMAINS):
            found.append(match.group())
    return found


def judge_side(
    texts: list[str], flag_names: tuple[str, ...], *, dlp_text: str | None
) -> SideVerdict:
    """Judge one side. ``dlp_text`` is the main text whose card numbers get masked."""
    joined = "\n".join(t for t in texts if t)
    flags = dict.fromkeys(flag_names, False)
    urls = bad_urls(joined)
    flags["url_cats"] = bool(urls)
    if "injection" in flags:
        flags["injection"] = bool(INJECTION_RE.search(joined))
    flags["toxic_content"] = bool(TOXIC_RE.search(joined))
    flags["malicious_code"] = bool(MALICIOUS_CODE_RE.search(joined))
    masked = None
    spans = card_spans(joined)
    flags["dlp"] = bool(spans)
    if dlp_text:
        own = card_spans(dlp_text)
        if own:
            masked = {
                "data": mask(dlp_text, own),
                "pattern_detections": [
                    {"pattern": "Credit Card Number", "locations": [[s, e] for s, e in own]}
                ],
            }
    return SideVerdict(flags=flags, bad_urls=urls, masked=masked)


@dataclass
class Verdict:
    prompt: SideVerdict
    response: SideVerdict
    has_prompt: bool
    has_response: bool

    @property
    def malicious(self) -> bool:
        return self.prompt.detected or self.response.detected


def judge(item: dict[str, Any]) -> Verdict:
    """Judge one content item (the last element of a request's ``contents``)."""
    tool_event = item.get("tool_event") or {}
    prompt_texts = [item.get("prompt") or "", item.get("code_prompt") or ""]
    response_texts = [item.get("response") or "", item.get("code_response") or ""]
    if isinstance(tool_event, dict):
        prompt_texts.append(str(tool_event.get("input") or ""))
        response_texts.append(str(tool_event.get("output") or ""))
    prompt = judge_side(prompt_texts, PROMPT_FLAGS, dlp_text=item.get("prompt"))
    response = judge_side(response_texts, RESPONSE_FLAGS, dlp_text=item.get("response"))
    return Verdict(
        prompt=prompt,
        response=response,
        has_prompt=any(prompt_texts),
        has_response=any(response_texts),
    )

"""kind_runtime: which capabilities the bounding set lacks, and what the wrapper writes to runc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from embedded_cluster.kind_runtime import missing_capabilities, wrapper_script

FULL_40 = "CapBnd:\t000001ffffffffff\n"  # bits 0..40 set


def test_full_bounding_set_needs_nothing() -> None:
    assert missing_capabilities(FULL_40, last_cap=40) == []


def test_missing_sys_resource_is_named() -> None:
    status = "Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n"
    assert missing_capabilities(status, last_cap=40) == ["CAP_SYS_RESOURCE"]


def test_only_bits_the_kernel_knows_count() -> None:
    # cap_last_cap 37: bits 38..40 (PERFMON, BPF, CHECKPOINT_RESTORE) are not expected.
    assert missing_capabilities("CapBnd:\t0000003fffffffff\n", last_cap=37) == []
    assert missing_capabilities("CapBnd:\t0000003fffffffff\n", last_cap=40) == [
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]


def _recording_runc(tmp_path: Path) -> Path:
    """Stands in for runc: records the argv and the spec files it was handed."""
    script = tmp_path / "runc"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(tmp_path / 'argv.json')!r}, 'w'))\n"
    )
    script.chmod(0o755)
    return script


def _wrapper(tmp_path: Path) -> Path:
    path = tmp_path / "airs-runc"
    path.write_text(wrapper_script(str(_recording_runc(tmp_path))))
    path.chmod(0o755)
    return path


def _caps(names: list[str]) -> dict[str, list[str]]:
    return {kind: list(names) for kind in ("bounding", "effective", "permitted")}


def test_wrapper_strips_missing_caps_from_the_bundle_and_keeps_argv(tmp_path: Path) -> None:
    gone = missing_capabilities()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    asked = ["CAP_CHOWN", "CAP_NET_ADMIN", *gone]
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": _caps(asked)}}))
    argv = ["--root", "/x", "create", "--bundle", str(bundle), "--pid-file", "/p", "id1"]
    subprocess.run([str(_wrapper(tmp_path)), *argv], check=True)
    assert json.loads((tmp_path / "argv.json").read_text()) == argv
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["capabilities"] == _caps(["CAP_CHOWN", "CAP_NET_ADMIN"])


def test_wrapper_strips_missing_caps_from_an_exec_process_file(tmp_path: Path) -> None:
    gone = missing_capabilities()
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": _caps(["CAP_KILL", *gone])}))
    subprocess.run([str(_wrapper(tmp_path)), "exec", "--process", str(process), "id1"], check=True)
    assert json.loads(process.read_text())["capabilities"] == _caps(["CAP_KILL"])


def test_wrapper_leaves_an_unreadable_spec_to_runc(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text("not json")
    result = subprocess.run(
        [str(_wrapper(tmp_path)), "create", "--bundle", str(bundle), "id1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "left the spec unchanged" in result.stderr
    assert (bundle / "config.json").read_text() == "not json"
    assert json.loads((tmp_path / "argv.json").read_text())[0] == "create"


def test_wrapper_does_not_write_through_a_planted_symlink(tmp_path: Path) -> None:
    gone = missing_capabilities()
    if not gone:
        pytest.skip("full bounding set: the wrapper has nothing to strip, so writes nothing")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    spec = json.dumps({"process": {"capabilities": _caps(["CAP_CHOWN", *gone])}})
    (bundle / "config.json").write_text(spec)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (bundle / "config.json.airs-runc").symlink_to(victim)  # the wrapper's temporary file
    result = subprocess.run(
        [str(_wrapper(tmp_path)), "create", "--bundle", str(bundle), "id1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "left the spec unchanged" in result.stderr
    assert victim.read_text() == "untouched"
    assert (bundle / "config.json").read_text() == spec

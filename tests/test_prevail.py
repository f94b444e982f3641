"""PREVAIL's YAML verifier tests (github.com/vbpf/ebpf-verifier test-data/*.yaml) against bpfx's verifier.

The suite is not vendored: the comparison runs when BPFX_PREVAIL_DIR names a checkout (or its test-data).
"""

from __future__ import annotations

import os

import pytest

from bpfx.tools.prevail import run_case, run_suite

yaml = pytest.importorskip("yaml")


def test_translation_and_pre_state_of_a_case():
    case = yaml.safe_load("""
test-case: guarded packet read
pre: ["r1.type=packet", "r1.packet_offset=0", "r2.type=packet", "r2.packet_offset=packet_size"]
code:
  <start>: |
    r3 = r1
    r3 += 8
    if r3 > r2 goto <out>
    r4 = *(u64 *)(r1 + 0) ; within the 8 proven bytes
  <out>: |
    r5 = 1
messages: []
""")
    result = run_case("packet.yaml", case)
    assert (result.expected_reject, result.got_reject, result.detail) == (False, False, "accepted")
    case["code"]["<start>"] = case["code"]["<start>"].replace("r3 += 8", "r3 += 4")
    case["messages"] = ["3: Upper bound must be at most packet_size"]
    result = run_case("packet.yaml", case)
    assert result.got_reject and result.detail.startswith("packet read of 8 bytes at offset 0 is beyond the proven "
                                                          "range 4")


def test_prevail_suite_agreement():
    root = os.environ.get("BPFX_PREVAIL_DIR")
    if not root:
        pytest.skip("PREVAIL's test-data not available (set BPFX_PREVAIL_DIR to an ebpf-verifier checkout)")
    data = os.path.join(root, "test-data") if os.path.isdir(os.path.join(root, "test-data")) else root
    results = run_suite(data)
    done = [r for r in results if r.got_reject is not None]
    agree = sum(r.got_reject == r.expected_reject for r in done)
    assert len(done) > 600
    assert agree / len(done) >= 0.95, f"{agree}/{len(done)}"

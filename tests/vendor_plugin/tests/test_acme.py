"""ACME's own tests, as a vendor writes them with ``bpfx.testing``: the checks bpfx's targets get."""

from __future__ import annotations

import os

import pytest

from bpfx import testing

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = testing.conformance_dir(HERE)


@pytest.mark.skipif(SUITE is None, reason=testing.NO_SUITE)
@pytest.mark.parametrize("target", ["acme", "acme-sim"])
def test_conformance(target):
    summary = testing.conformance(SUITE, target)
    assert (summary.failed, len(summary.skipped)) == ([], 0)


@pytest.mark.parametrize("target", ["acme", "acme-sim"])
def test_differential_fuzzing(target):
    assert testing.fuzz(target, n=30, seed=11) == []


@pytest.mark.parametrize("path", testing.filetests(os.path.join(HERE, "filetests")), ids=testing.filetest_id)
def test_filetest(path):
    testing.check_filetest(path)

"""Filetests: BPF assembly in, the expected native listing below it as comments.

Each tests/filetests/<target>/*.s holds BPF assembly, then a line "# ---- expected ----" and the listing
``bpfx compile -f listing`` prints, each line behind "# ". Run with BPFX_BLESS=1 to rewrite the expectations;
review reads the diff. A "# type: xdp" line in the input selects the program type (default mem), a
"# features: +c,+zba" line the target features (as --mattr). The machinery is ``bpfx.testing``, which vendors'
plugins use for their own filetests.
"""

from __future__ import annotations

import os

import pytest

from bpfx import testing

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "filetests")


@pytest.mark.parametrize("path", testing.filetests(HERE), ids=testing.filetest_id)
def test_filetest(path):
    testing.check_filetest(path)

"""The receiver's tests. The end-to-end ones run a real Tidings server and reuse the
server's bulk seeding (``tests.helpers.seed``), so the repository root is importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

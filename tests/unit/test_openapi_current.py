"""The committed openapi.json is what the app serves: API drift is always deliberate.

When this fails, run ``scripts/openapi`` and commit the new openapi.json together
with the change that caused it.
"""

from __future__ import annotations

from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    """``scripts/openapi`` as a module, so the test and the script render alike."""
    loader = SourceFileLoader("scripts_openapi", str(ROOT / "scripts" / "openapi"))
    spec = spec_from_loader("scripts_openapi", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_committed_openapi_json_is_current() -> None:
    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    assert committed == load_script().render(), (
        "openapi.json is out of date: run scripts/openapi and commit it"
    )

"""Package boundaries of DESIGN.md, and documents that must list everything the code knows."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import lesion_render
from bot import questionnaire as qn
from bot.texts import LANGUAGES, catalog
from model_server.api import CONDITIONS
from tests.conftest import ROOT
from triage.config import Settings
from triage.models import CaseStatus
from triage.rules import BODY_SITES, CONDITION_TIERS, EXTENTS, SYMPTOMS, TIERS


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


def test_the_web_and_worker_processes_load_without_torch() -> None:
    code = (
        "import sys, bot.app, bot.__main__, triage.worker, triage.tasks, triage.cli;"
        "heavy = sorted(m for m in ('torch', 'transformers', 'timm', 'bitsandbytes') if m in sys.modules);"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("package", ["bot", "triage"])
def test_no_gpu_library_or_model_server_internals_outside_the_model_server(package: str) -> None:
    imports = _imports(package)
    assert not {m for m in imports if m.split(".")[0] in {"torch", "transformers", "timm", "bitsandbytes"}}
    assert {m for m in imports if m.startswith("model_server")} <= {"model_server.api"}


def test_triage_never_imports_bot_and_rules_import_nothing_outside() -> None:
    assert not {m for m in _imports("triage") if m.split(".")[0] in {"bot", "inbox"}}
    rules = {m.split(".")[0] for m in _imports("triage/rules")}
    # Pure libraries for reading the patient's words (stems, bounded typo tolerance): no I/O, no network.
    assert rules <= set(sys.stdlib_module_names) | {"triage", "__future__", "snowballstemmer", "rapidfuzz"}


def test_model_server_imports_nothing_from_the_workflow() -> None:
    assert not {m for m in _imports("model_server") if m.split(".")[0] in {"bot", "triage", "inbox"}}


def test_model_server_api_imports_no_torch() -> None:
    tree = ast.parse((ROOT / "model_server" / "api.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith(("torch", "model_server.")) for m in modules)


def test_the_model_and_the_rules_share_one_condition_vocabulary() -> None:
    assert set(CONDITIONS) == set(CONDITION_TIERS)


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    english = catalog("en")
    assert len(LANGUAGES) >= 7
    for language in LANGUAGES:
        messages = catalog(language)
        assert set(messages) == set(english), (language, set(english) ^ set(messages))
        for key, text in english.items():
            assert set(re.findall(r"{(\w+)}", messages[key])) == set(re.findall(r"{(\w+)}", text)), (language, key)
            # the same markup, balanced: Telegram refuses a whole message over one unclosed <b>
            assert sorted(re.findall(r"</?[bi]>", messages[key])) == sorted(re.findall(r"</?[bi]>", text)), (
                language, key)
            assert not re.search(r"<(?!/?[bi]>)", messages[key]), (language, key)


def test_every_message_the_code_asks_for_exists() -> None:
    english = catalog("en")
    literal = set()
    for path in (ROOT / "bot").rglob("*.py"):
        source = path.read_text()
        literal |= set(re.findall(r"\bt\([^,()]+, \"([a-z_.]+)\"", source))  # t(language, "key")
        literal |= set(re.findall(r"\.t\(\"([a-z_.]+)\"", source))  # turn.t("key")
        literal |= set(re.findall(r"\brefuse\(query, \"([a-z_.]+)\"", source))
    dynamic = {f"tier.{x}" for x in TIERS} | {f"tier_name.{x}" for x in (*TIERS, "pending")}
    dynamic |= {f"status.{x}" for x in CaseStatus} | {f"q.{s.key}" for s in qn.STEPS}
    dynamic |= {f"quality.{x}" for x in ("too_small", "too_dark", "too_bright", "blurred", "not_skin")}
    dynamic |= {o.label for s in qn.STEPS for o in s.options} | {f"symptom.{x}" for x in SYMPTOMS}
    dynamic |= {f"site.{x}" for x in BODY_SITES} | {f"extent.{x}" for x in EXTENTS}
    dynamic |= {f"condition.{x}" for x in CONDITIONS}
    dynamic |= {f"age_value.{x}" for x in ("years", "months", "weeks")} | {"btn_unsure"}
    dynamic |= {f"lesion_feature.{x}" for x in lesion_render.FEATURES}
    dynamic |= {f"lesion_verdict.{x}" for x in lesion_render.VERDICTS}
    dynamic |= {f"lesion_notice.{x}" for x in ("requested", "interval", "stopped")}
    dynamic |= {"lesion_followed.chw", "lesion_photo_guide", "lesion_photo_guide.chw", "help_lesions.chw"}
    assert len(literal) > 40
    assert literal | dynamic <= set(english), sorted((literal | dynamic) - set(english))


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert {name.upper() for name in Settings.model_fields} <= listed


def test_procfile_has_every_process() -> None:
    procfile = (ROOT / "Procfile").read_text()
    names = {line.split(":", 1)[0] for line in procfile.splitlines() if line.strip()}
    assert names == {"release", "web", "worker", "beat", "model"}
    assert "alembic upgrade head" in procfile
    assert Path(ROOT / "alembic.ini").exists()

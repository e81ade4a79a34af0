"""The README's two set-up commands are what newcomers paste and what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_exactly_two_setup_commands() -> None:
    blocks = _bash_blocks()
    assert len(blocks) == 2
    main_job, tests = blocks
    assert "pip install" in main_job and ".venv/bin/bsprof " in main_job
    assert "pip install" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _bash_blocks()[1] in ci_lines


def test_ci_pins_the_cpu_torch_build() -> None:
    assert '"torch==2.13.0"' in _bash_blocks()[1]

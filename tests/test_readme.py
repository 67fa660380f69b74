"""The README's two opening commands stay true: CI runs exactly the second one."""

from tests.conftest import REPO


def readme_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index("```bash")
    block = lines[start + 1 : lines.index("```", start)]
    return [line for line in block if line and not line.startswith("#")]


def test_readme_opens_with_run_and_test_commands():
    run, test = readme_commands()[:2]
    assert run.endswith("gansweep -m +sweep=quickstart")
    assert test.endswith("pytest")
    assert test in (REPO / ".ci" / "run").read_text().splitlines()

"""The dfl-* command lines: each app's own --help and its start-up errors, answered before torch loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deepfake_lightning.apps.cli import APPS, help_text

LAUNCH = (
    "import sys; sys.argv = ['dfl-{app}', *{args!r}]; from deepfake_lightning.apps import cli; "
    "code = 0\ntry:\n    cli.launch('{app}')\nexcept SystemExit as e:\n    code = e.code\n"
    "print('TORCH', 'torch' in sys.modules, file=sys.stderr); sys.exit(code)"
)


def launch(app: str, *args: str) -> subprocess.CompletedProcess:
    code = LAUNCH.format(app=app, args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("app", sorted(APPS))
def test_every_app_has_its_own_help(app):
    text = help_text(app, [])
    assert text.startswith(f"usage: dfl-{app}") and f"example:  dfl-{app}" in text
    assert "powered by Hydra" not in text and "keys (key=value" in text


def test_help_names_required_keys_and_leaves_out_what_the_run_decides():
    text = help_text("eval", [])
    assert "run " in text and "???  (required)" in text
    assert "data.extract." not in text.split("not settable here")[0]  # the run's own extraction settings
    assert "data.root" in text and "perturb" in text
    # The help follows the overrides given with it.
    assert "mobilenet_v3_small" in help_text("train", ["debug=tiny"])


def test_help_answers_without_importing_torch():
    res = launch("predict", "--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: dfl-predict")
    assert "TORCH False" in res.stderr


@pytest.mark.parametrize(
    ("app", "args", "says"),
    [
        ("eval", [], "run is required: pass run=... on the command line, e.g. dfl-eval run="),
        ("train", ["+threshold.min_fake_recal=0.9"], "threshold.min_fake_recal: no such key"),
        ("predict", ["run=x", "input=y", "aggregate=meen"], "aggregate must be one of ('mean', 'max', 'median')"),
        ("ensemble", ["general=a", "specialist=b", "out_dir=c", "ensemble.weight=1.5"], "ensemble.weight must be"),
        ("train", ["experiment=no_such_experiment"], "no_such_experiment"),
    ],
)
def test_a_command_line_that_cannot_run_says_so_in_one_line(app, args, says):
    res = launch(app, *args)
    err = res.stderr.replace("TORCH False\n", "")
    assert res.returncode == 2, res.stderr
    assert err.startswith(f"dfl-{app}: error: ") and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "TORCH False" in res.stderr  # answered before the app (and torch) loaded


def test_the_console_scripts_are_the_apps():
    # One list of apps: pyproject's [project.scripts] names exactly APPS, each a launcher of its own name.
    from pathlib import Path

    import tomllib

    from deepfake_lightning.apps import cli

    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {f"dfl-{n}": f"deepfake_lightning.apps.cli:{n}" for n in APPS}
    assert all(getattr(cli, n).args == (n,) for n in APPS)

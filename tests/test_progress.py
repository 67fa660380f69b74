"""The single-run progress bar counts generator iterations, from where a resumed run starts, with the losses."""

import io
from types import SimpleNamespace

from gansweep.callbacks.progress import IterationProgress, wanted
from gansweep.run.task import train
from tests.conftest import compose_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_only_a_single_run_on_a_terminal_gets_a_bar():
    assert wanted(multirun=False, stream=Terminal())
    assert not wanted(multirun=True, stream=Terminal())  # a sweep's points: one line each when they end
    assert not wanted(multirun=False, stream=io.StringIO())  # redirected to a file or a pipe


def test_the_bar_starts_at_the_resumed_count_and_shows_the_latest_losses():
    stream = Terminal()
    bar = IterationProgress(total=10, stream=stream)
    module = SimpleNamespace(g_iters=4, log_every=2, latest_curves={})
    bar.on_train_start(None, module)
    for g_iters in range(5, 11):
        module.g_iters = g_iters
        module.latest_curves = {"train/critic": -float(g_iters), "train/generator": 0.5, "train/penalty": 9.0}
        bar.on_train_batch_end(None, module)
        assert bar.bar.n == g_iters
    bar.on_train_end(None, module)
    final = stream.getvalue().split("\r")[-1]
    assert "generator iterations: 100%" in final and "10/10" in final
    assert "critic=-10, generator=0.5" in final and "penalty" not in final
    assert bar.bar is None


def test_a_single_run_on_a_terminal_shows_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("gansweep.callbacks.progress.wanted", lambda multirun: not multirun)
    cfg = compose_config(["arch.hidden=16", "train.iters=6", "train.log_every=3", "metrics.num_samples=200"], tmp_path)
    train(cfg)
    assert "6/6" in capsys.readouterr().err.split("\r")[-1]

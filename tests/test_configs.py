"""Every option of every config group composes and instantiates; wrong configs fail with a clear message."""

from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gansweep.constraints.base import Constraint
from gansweep.instantiate import instantiate_plain
from gansweep.loggers.build import build_loggers
from gansweep.losses.base import GANLoss
from gansweep.models.base import GANNetworks
from gansweep.optim import optimizer_factories
from gansweep.paths import conf_dir, templates_dir
from gansweep.run.build import build_constraints
from tests.conftest import compose_config


def options(group: str):
    """The group's options: its YAML files but _NAME.yaml, a piece the options share (dataset/_image.yaml)."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml") if not p.stem.startswith("_"))


def test_every_group_has_options():
    for group in "dataset arch loss constraint optim logger callbacks metrics protocol experiment".split():
        assert options(group), group


@pytest.mark.parametrize("name", options("loss"))
def test_loss_options(name):
    cfg = compose_config([f"loss={name}"])
    assert isinstance(instantiate(cfg.loss), GANLoss)


@pytest.mark.parametrize("name", options("constraint"))
def test_constraint_options(name, tmp_path):
    cfg = compose_config([f"constraint={name}"])
    constraints = build_constraints(cfg)
    assert all(isinstance(c, Constraint) for c in constraints)
    assert len(constraints) == (0 if name == "none" else 1)


def test_constraints_stack_under_their_own_keys():
    cfg = compose_config(["constraint=[sn,gp]", "constraint.gp.weight=5"])
    assert list(cfg.constraint) == ["sn", "gp"]
    sn, gp = build_constraints(cfg)
    assert type(sn).__name__ == "SpectralNorm" and gp.weight == 5.0


ON_DISK = {"cifar10", "stl10", "celeba64", "lsun_bedroom64", "lsun_church64", "image_folder"}  # need dataset.root
IMAGE_ARCHS = {"dcgan": (3, 32, 32), "resnet": (3, 64, 64), "bures_dcgan": (3, 32, 32)}


@pytest.mark.parametrize("name", sorted(set(options("dataset")) - ON_DISK))
def test_dataset_options(name):
    cfg = compose_config([f"dataset={name}"] + (["dataset.size=64"] if name == "stacked_digits" else []))
    dm = instantiate(cfg.dataset, seed=0)
    dm.configure_batches(batch_size=8, per_step=2, steps=1)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (2, 8, *dm.data_shape)


@pytest.mark.parametrize("name", sorted(ON_DISK))
def test_datasets_on_disk_need_a_root_and_say_so(name):
    cfg = compose_config([f"dataset={name}"])
    with pytest.raises(FileNotFoundError, match="dataset.root="):
        instantiate_plain(cfg.dataset, seed=0)


def test_image_datasets_switch_the_default_metrics():
    for dataset in ("cifar10", "stl10", "celeba64", "lsun_bedroom64", "lsun_church64", "image_folder"):
        assert compose_config([f"dataset={dataset}"]).metrics._target_.endswith("InceptionEvaluation"), dataset
    assert compose_config(["dataset=stacked_digits"]).metrics._target_.endswith("DigitsEvaluation")
    assert compose_config(["dataset=stacked_digits", "metrics=toy"]).metrics._target_.endswith("ToyEvaluation")
    assert compose_config(["dataset=cifar10", "metrics=none"]).metrics._target_ is None
    assert compose_config([]).metrics._target_.endswith("ToyEvaluation")


@pytest.mark.parametrize("name", options("arch"))
def test_arch_options(name):
    cfg = compose_config([f"arch={name}"])
    shape = IMAGE_ARCHS.get(name, (2,))
    nets = instantiate(cfg.arch, data_shape=shape)
    assert isinstance(nets, GANNetworks)
    x = nets.generator(torch.randn(3, nets.z_dim))
    score, features = nets.critic(x, return_features=True)
    assert x.shape == (3, *shape) and score.shape == (3,) and features.shape[0] == 3


@pytest.mark.parametrize("name", options("optim"))
def test_optim_options(name):
    cfg = compose_config([f"optim={name}", "optim.lr_critic=3e-4"])
    g, d = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    make_g, make_d = optimizer_factories(cfg.optim)
    opt_g, opt_d = make_g(g.parameters()), make_d(d.parameters())
    assert opt_g.param_groups[0]["lr"] == cfg.optim.lr and opt_d.param_groups[0]["lr"] == 3e-4


@pytest.mark.parametrize("name", options("logger"))
def test_logger_options(name, tmp_path):
    cfg = compose_config([f"logger={name}"], out_dir=tmp_path)
    loggers = build_loggers(cfg, lambda: {"config": {}})
    expected = {"none": [], "csv": ["ResumableCSVLogger"], "wandb": ["ResumableCSVLogger", "WandbRunLogger"]}[name]
    assert [type(logger).__name__ for logger in loggers] == expected  # every option keeps the CSV curves but none
    for logger in loggers:
        assert Path(logger.save_dir).is_relative_to(tmp_path)  # the run folder holds every logger's files


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_presets(name):
    cfg = compose_config([f"experiment={name}"])
    assert isinstance(instantiate(cfg.loss), GANLoss)
    build_constraints(cfg)
    assert cfg.train.n_critic >= 1


def test_experiments_pair_objectives_with_their_papers_constraints():
    pairs = {"wgan_gp": ["gp"], "wgan": ["clip"], "bolt": ["gp"], "lgan": ["maxgp"], "bures": ["none"], "hinge": ["sn"]}
    for experiment, constraints in pairs.items():
        assert list(compose_config([f"experiment={experiment}"]).constraint) == constraints
    assert compose_config(["experiment=bures"]).train.n_critic == 1
    assert compose_config(["experiment=wgan"]).optim._target_ == "torch.optim.RMSprop"


def test_command_line_beats_experiment():
    cfg = compose_config(["experiment=bures", "train.n_critic=3", "loss=nsgan"])
    assert cfg.train.n_critic == 3 and cfg.loss._target_.endswith("NSGANLoss")


@pytest.mark.parametrize("name", sorted(p.stem for p in templates_dir().glob("*.yaml")))
def test_sweep_templates_compose(name):
    compose_config([f"+sweep={name}"])
    assert HydraConfig.get().sweeper.params, f"multirun_templates/{name}.yaml sets no grid"


def test_issue_examples_compose():
    cfg = compose_config(
        ["loss=bolt", "constraint=gp", "dataset=grid25", "optim.lr=2e-4", "train.iters=3000", "seed=3"]
    )
    assert (cfg.optim.lr, cfg.train.iters, cfg.seed, cfg.dataset.name) == (2e-4, 3000, 3, "grid25")
    cfg = compose_config(["loss=lgan", "loss.phi=exp", "constraint=maxgp"])
    assert instantiate(cfg.loss).phi_name == "exp"


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.iters=abc", "could not be converted to Integer"),
        ("optim.lr=fast", "could not be converted to Float"),
        ("optim.decay=cosine", "Invalid value 'cosine'"),
        ("trainn.iters=3", "Could not override 'trainn.iters'"),
        ("loss=wgan_gp", "Could not find 'loss/wgan_gp'"),
    ],
)
def test_typos_fail_at_composition(override, message):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config([override])
    assert message in f"{err.value} {err.value.__cause__}"


def test_resolved_config_round_trips():
    cfg = compose_config([])
    yaml = OmegaConf.to_yaml(cfg.train)
    assert "iters" in yaml


def test_image_experiments_carry_the_papers_hyperparameters():
    resnet = compose_config(["experiment=wgan_gp_cifar10_resnet"])
    assert resnet.arch._target_.endswith("build_resnet") and resnet.dataset._target_.endswith("CIFAR10DataModule")
    assert (resnet.optim.lr, list(resnet.optim.betas), resnet.optim.decay) == (2e-4, [0.0, 0.9], "linear")
    assert (resnet.train.iters, resnet.train.n_critic, resnet.train.batch_size) == (100_000, 5, 64)
    assert resnet.train.generator_batch_size == 128 and resnet.constraint.gp.weight == 10.0
    lgan = compose_config(["experiment=lgan_cifar10"])
    assert (lgan.loss.phi, lgan.constraint.maxgp.weight, lgan.train.ema) == ("exp", 0.1, 0.99)
    bures = compose_config(["experiment=bures_stacked_digits"])
    assert bures.arch._target_.endswith("build_bures_dcgan") and bures.loss.form == "kernel"
    assert (bures.train.n_critic, bures.train.batch_size, bures.optim.lr) == (1, 256, 1e-3)


@pytest.mark.parametrize("dataset", ["cifar10", "celeba64", "lsun_bedroom64", "lsun_church64", "stacked_digits"])
def test_bolt_and_wgan_gp_image_runs_differ_only_in_the_loss(dataset):
    bolt, wgan = (
        compose_config(["protocol=bolt_images", f"dataset={dataset}", f"loss={loss}"]) for loss in ("bolt", "wgan")
    )
    assert bolt.loss._target_.endswith("BOLTLoss") and wgan.loss._target_.endswith("WGANLoss")
    for key in ("dataset", "arch", "constraint", "optim", "train"):
        assert bolt[key] == wgan[key], key


def optim_of(overrides):
    cfg = compose_config(overrides)
    return cfg.optim.lr, list(cfg.optim.betas)


@pytest.mark.parametrize("dataset", ["ring8", "grid25", "swissroll"])
def test_gan_toy_sets_carry_the_gan_toy_optimizer(dataset):
    """gan_toy.py: Adam(1e-4, beta1 0.5, beta2 0.9); image data keeps WGAN-GP's (0, 0.9)."""
    assert optim_of([f"dataset={dataset}"]) == (1e-4, [0.5, 0.9])
    assert optim_of([f"dataset={dataset}", "experiment=bolt"]) == (1e-4, [0.5, 0.9])
    assert optim_of(["dataset=cifar10"]) == (1e-4, [0.0, 0.9])
    assert optim_of([f"dataset={dataset}", "optim.betas=[0.0,0.99]"]) == (1e-4, [0.0, 0.99])


def test_lgan_experiment_is_the_authors_default():
    """LGANs-for-reproduce: phi exp, generator loss per phi, generator batch 2x the critic's, Adam 2e-4 (0, 0.9)."""
    cfg = compose_config(["experiment=lgan"])
    assert (cfg.loss.phi, cfg.loss.generator, cfg.loss.alpha) == ("exp", "auto", 1.0)
    assert cfg.train.generator_batch_size == 2 * cfg.train.batch_size == 512
    assert optim_of(["experiment=lgan"]) == (2e-4, [0.0, 0.9])
    assert compose_config(["experiment=lgan", "train.batch_size=32"]).train.generator_batch_size == 64
    assert compose_config(["experiment=lgan_cifar10"]).train.generator_batch_size == 128


@pytest.mark.parametrize(
    "run",
    [
        "experiment=bures",
        "experiment=alt_bures",
        "protocol=bures_synthetic loss=bures",
        "protocol=bures_synthetic loss=alt_bures",
    ],
)
def test_bures_experiments_train_as_the_authors(run):
    """Adam 1e-3 (0.5, 0.999), one simultaneous update per step, averaged critic terms, eps 1e-13, Keras init."""
    cfg = compose_config(run.split())
    assert optim_of(run.split()) == (1e-3, [0.5, 0.999])
    assert (cfg.train["update"], cfg.train.n_critic) == ("simultaneous", 1)
    assert (cfg.loss.critic_terms, cfg.loss.eps) == ("mean", 1e-13)
    if "synthetic" in run:
        assert (cfg.arch.init, cfg.train.iters, cfg.train.batch_size) == ("keras", 25_000, 256)


def test_bures_protocols_baselines():
    nsgan = compose_config(["experiment=nsgan_synthetic", "dataset=bures_grid"])
    assert (nsgan.loss.critic_terms, nsgan.train["update"]) == ("mean", "simultaneous")
    assert nsgan.dataset.name == "bures_grid"
    wgan_gp = compose_config(["experiment=wgan_gp_synthetic"])
    assert (wgan_gp.constraint.gp.weight, wgan_gp.train.n_critic, wgan_gp.train["update"]) == (5.0, 10, "alternating")
    assert optim_of(["experiment=wgan_gp_synthetic"]) == (1e-3, [0.5, 0.999])
    digits = compose_config(["experiment=nsgan_stacked_digits"])
    assert (digits.loss.critic_terms, digits.train["update"]) == ("mean", "simultaneous")
    assert "eps" not in digits.loss  # the Bures term's settings reach Bures losses only
    bures = compose_config(["experiment=bures_stacked_digits"])
    assert (bures.loss.form, bures.loss.eps) == ("kernel", 1e-14)
    for loss in ("bures", "alt_bures"):  # the protocol's Bures term comes with either Bures loss, from the command line
        alt = compose_config(["protocol=bures_images", f"loss={loss}"])
        assert (alt.loss.form, alt.loss.eps, alt.loss.critic_terms) == ("kernel", 1e-14, "mean")
    assert "eps" not in compose_config(["protocol=bures_images", "loss=nsgan"]).loss
    assert compose_config(["experiment=nsgan"]).loss.critic_terms == "sum"  # Mimicry, StudioGAN


def test_keras_init_is_glorot_uniform_with_zero_biases():
    """Keras' glorot_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); Linear(256, 128): a = 0.125."""
    cfg = compose_config(["protocol=bures_synthetic", "loss=bures"])
    torch.manual_seed(0)
    networks = instantiate(cfg.arch, data_shape=(2,))
    first = networks.generator.body[0]
    assert first.weight.abs().max().item() <= 0.125 and first.weight.abs().max().item() > 0.12
    assert first.weight.std().item() == pytest.approx(0.125 / 3**0.5, rel=0.02)
    assert all(m.bias.abs().max().item() == 0.0 for m in networks.critic.modules() if isinstance(m, torch.nn.Linear))
    with pytest.raises(Exception, match="arch.init=.xavier. is not an option"):  # hydra wraps the ValueError
        instantiate(compose_config(["arch.init=xavier"]).arch, data_shape=(2,))

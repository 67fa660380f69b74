"""Every objective against values computed by hand (math module, element by element) on tiny tensors."""

import math

import pytest
import torch

from gansweep.losses.base import CriticOutput
from gansweep.losses.bolt import BOLTLoss
from gansweep.losses.hinge import HingeLoss
from gansweep.losses.lgan import LGANLoss
from gansweep.losses.nsgan import NSGANLoss
from gansweep.losses.wgan import WGANLoss

REAL = [1.0, 2.0]
FAKE = [0.0, -1.0]


def out(values):
    return CriticOutput(torch.tensor(values, dtype=torch.float64))


def mean(xs):
    return sum(xs) / len(xs)


def softplus(t):
    return math.log1p(math.exp(t))


def sigmoid(t):
    return 1.0 / (1.0 + math.exp(-t))


def test_wgan():
    loss = WGANLoss()
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(-0.5 - 1.5)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(0.5)


def test_nsgan_is_bce_with_logits():
    loss = NSGANLoss()
    expected = mean([softplus(-r) for r in REAL]) + mean([softplus(f) for f in FAKE])
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(expected)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(mean([softplus(-f) for f in FAKE]))
    assert expected == pytest.approx(0.5 * (0.31326169 + 0.12692801) + 0.5 * (0.69314718 + 0.31326169))


def test_hinge():
    loss = HingeLoss()
    # real: max(0, 1-1)=0, max(0, 1-2)=0; fake: max(0, 1+0)=1, max(0, 1-1)=0
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(0.5)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(0.5)


@pytest.mark.parametrize(
    "bound, s",
    [
        ("sigmoid", sigmoid),
        ("tanh", lambda t: 0.5 * (math.tanh(t) + 1.0)),
        ("clip", lambda t: 0.5 * (min(max(t, -1.0), 1.0) + 1.0)),
    ],
)
def test_bolt_bounded_wgan(bound, s):
    loss = BOLTLoss(bound=bound)
    expected = mean([s(f) for f in FAKE]) - mean([s(r) for r in REAL])
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(expected)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(-mean([s(f) for f in FAKE]))


def test_bolt_sigmoid_numbers():
    # sigmoid: real (0.731059, 0.880797), fake (0.5, 0.268941)
    loss = BOLTLoss()
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(0.384471 - 0.805928, abs=1e-6)
    assert BOLTLoss(bound="clip").critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(0.25 - 1.0)


def test_bolt_penalty_transform():
    scores = torch.tensor([0.0, 3.0])
    assert torch.equal(BOLTLoss().penalty_transform(scores), scores)
    assert torch.allclose(BOLTLoss(penalty_on="bounded").penalty_transform(scores), torch.sigmoid(scores))


PHI = {
    "x": lambda t: t,
    "softplus": softplus,
    "sqrt": lambda t: math.sqrt(t * t + 1.0) + t,
    "exp": math.exp,
    "hinge": lambda t: max(0.0, 1.0 + t),
    "lsgan": lambda t: (t + 1.0) ** 2,
}


@pytest.mark.parametrize("phi", sorted(PHI))
def test_lgan_phi_family(phi):
    loss = LGANLoss(phi=phi)
    expected = mean([PHI[phi](f) for f in FAKE]) + mean([PHI[phi](-r) for r in REAL])
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(expected)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(0.5)  # -E[f(G(z))] for every phi
    phi_gen = LGANLoss(phi=phi, generator="phi").generator_loss(out(FAKE)).item()
    assert phi_gen == pytest.approx(mean([PHI[phi](-f) for f in FAKE]))


def test_lgan_numbers():
    assert LGANLoss(phi="x").critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(-2.0)
    assert LGANLoss(phi="exp").critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(0.935547, abs=1e-6)
    assert LGANLoss(phi="sqrt").critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(1.032248, abs=1e-6)
    assert LGANLoss(phi="lsgan").critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LGANLoss(phi="log"), "loss.phi='log' is not an option"),
        (lambda: BOLTLoss(bound="relu"), "loss.bound='relu' is not an option"),
        (lambda: BOLTLoss(penalty_on="both"), "loss.penalty_on"),
    ],
)
def test_bad_options_say_what_to_change(make, message):
    with pytest.raises(ValueError, match=message):
        make()

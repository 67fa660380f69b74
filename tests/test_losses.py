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


def test_nsgan_critic_terms_mean_is_the_bures_authors_average():
    """(BCE(f(x), 1) + BCE(f(x~), 0)) / 2, as the Bures GAN authors and gan_cifar.py's DCGAN mode."""
    summed = 0.5 * (0.31326169 + 0.12692801) + 0.5 * (0.69314718 + 0.31326169)
    got = NSGANLoss(critic_terms="mean").critic_loss(out(REAL), out(FAKE)).item()
    assert got == pytest.approx(summed / 2)
    assert NSGANLoss(critic_terms="mean").generator_loss(out(FAKE)).item() == pytest.approx(
        NSGANLoss().generator_loss(out(FAKE)).item()
    )


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


def test_bolt_l2_is_the_authors_squared_terms():
    """norm=l2: critic E[s(x~)^2] + E[(1 - s(x))^2], generator -E[s(G(z))^2] (the classification code's default)."""
    loss = BOLTLoss(norm="l2", bound="clip")  # clip: s = (clip(f) + 1) / 2, exact halves and quarters
    # REAL (1, 2) -> s = (1, 1): (1 - s)^2 = 0; FAKE (0, -1) -> s = (0.5, 0): s^2 = (0.25, 0) -> mean 0.125
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(0.125)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(-0.125)
    sig = BOLTLoss(norm="l2")
    expected = mean([sigmoid(f) ** 2 for f in FAKE]) + mean([(1 - sigmoid(r)) ** 2 for r in REAL])
    assert sig.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(expected)
    # sigmoid: fake (0.5, 0.268941): (0.25 + 0.072329) / 2; real (0.731059, 0.880797): (0.072329 + 0.014210) / 2
    assert expected == pytest.approx(0.161165 + 0.043270, abs=1e-6)


PHI = {  # (t, alpha) -> phi(t), LGANs-for-reproduce's fake term
    "x": lambda t, a: t,
    "softplus": lambda t, a: softplus(t),
    "sqrt": lambda t, a: math.sqrt(t * t + 1.0) + t,
    "exp": lambda t, a: math.exp(t),
    "hinge": lambda t, a: max(0.0, a + t),
    "lsgan": lambda t, a: (t + a) ** 2,
}


@pytest.mark.parametrize("phi", sorted(PHI))
def test_lgan_phi_family(phi):
    loss = LGANLoss(phi=phi, generator="linear")
    expected = mean([PHI[phi](f, 1.0) for f in FAKE]) + mean([PHI[phi](-r, 1.0) for r in REAL])
    assert loss.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(expected)
    assert loss.generator_loss(out(FAKE)).item() == pytest.approx(0.5)  # -E[f(G(z))]
    phi_gen = LGANLoss(phi=phi, generator="phi").generator_loss(out(FAKE)).item()
    assert phi_gen == pytest.approx(mean([PHI[phi](-f, 1.0) for f in FAKE]))


@pytest.mark.parametrize("phi", sorted(PHI))
def test_lgan_generator_auto_is_the_authors_per_phi(phi):
    """bPsiMax=False (their default): G loss -f for every phi but lsgan, whose G loss is (f - alpha)^2 regardless."""
    got = LGANLoss(phi=phi).generator_loss(out(FAKE)).item()
    # FAKE = (0, -1): -E[f] = 0.5; lsgan (f - 1)^2: (1 + 4) / 2 = 2.5
    assert got == pytest.approx(2.5 if phi == "lsgan" else 0.5)


def test_lgan_margin_alpha():
    """hinge: relu(alpha + t), lsgan: (t + alpha)^2 with the authors' margin alpha (their default 1)."""
    # alpha 2, REAL (1, 2), FAKE (0, -1): hinge fake relu(2 + 0) = 2, relu(2 - 1) = 1 -> 1.5; real relu(2 - 1) = 1,
    # relu(2 - 2) = 0 -> 0.5; total 2.0
    assert LGANLoss(phi="hinge", alpha=2.0).critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(2.0)
    # lsgan fake (0 + 2)^2 = 4, (-1 + 2)^2 = 1 -> 2.5; real (-1 + 2)^2 = 1, (-2 + 2)^2 = 0 -> 0.5; total 3.0
    lsgan = LGANLoss(phi="lsgan", alpha=2.0)
    assert lsgan.critic_loss(out(REAL), out(FAKE)).item() == pytest.approx(3.0)
    # generator (f - 2)^2: 4 and 9 -> 6.5
    assert lsgan.generator_loss(out(FAKE)).item() == pytest.approx(6.5)


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
        (lambda: BOLTLoss(norm="l3"), "loss.norm='l3' is not an option"),
        (lambda: LGANLoss(generator="max"), "loss.generator='max' is not an option"),
        (lambda: NSGANLoss(critic_terms="avg"), "loss.critic_terms='avg' is not an option"),
    ],
)
def test_bad_options_say_what_to_change(make, message):
    with pytest.raises(ValueError, match=message):
        make()

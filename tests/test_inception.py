"""The Inception path offline: a weights file in the real TorchScript format (random weights), the pre-flight
failures (missing file, no download, a state dict instead of TorchScript) and the sha256 recording."""

import hashlib
import urllib.error

import pytest
import torch
from torch import Tensor, nn

from gansweep.callbacks.image_evaluation import InceptionEvaluation
from gansweep.metrics import inception
from gansweep.metrics.inception import InceptionWeightsError, load_inception
from tests.fake_inception import write_fake_inception


@pytest.fixture
def weights(tmp_path):
    return write_fake_inception(tmp_path / "inception-2015-12-05.pt", num_features=32)


def test_loads_the_torchscript_file_and_records_its_sha256(weights):
    network, info = load_inception(str(weights))
    assert info["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert info["extractor"] == "inception-2015-12-05" and info["num_features"] == network.num_features == 32
    features = network(torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8))
    assert features.shape == (5, 32) and features.dtype == torch.float32


class _Echo(nn.Module):
    """Returns what the network is given: the mean input value per image, and whether it was 299x299."""

    def forward(self, img: Tensor, return_features: bool = False) -> Tensor:
        assert return_features
        return torch.stack([img.mean(dim=(1, 2, 3)), torch.full_like(img[:, 0, 0, 0], float(img.shape[1]))], dim=1)


def test_images_reach_the_network_as_0_to_255_floats_with_3_channels(tmp_path):
    path = tmp_path / "echo.pt"
    torch.jit.save(torch.jit.script(_Echo()), str(path))
    network, _ = load_inception(str(path))
    grey = torch.full((2, 1, 16, 16), 255, dtype=torch.uint8)
    assert network(grey).tolist() == [[255.0, 3.0], [255.0, 3.0]]


def test_the_default_path_is_torch_s_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    write_fake_inception(tmp_path / "hub" / "checkpoints" / "inception-2015-12-05.pt")
    _, info = load_inception(None, download=False)
    assert info["weights"] == str(tmp_path / "hub" / "checkpoints" / "inception-2015-12-05.pt")


def test_a_missing_file_says_which_file_and_which_key(tmp_path):
    with pytest.raises(InceptionWeightsError) as err:
        load_inception(str(tmp_path / "nope.pt"))
    message = str(err.value)
    assert "nope.pt is not a file" in message and "metrics.inception_weights=PATH" in message
    assert "inception-2015-12-05.pt" in message and inception.URL in message


def test_no_file_and_no_download_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InceptionWeightsError, match="is not set and .* does not exist"):
        load_inception(None, download=False)


def test_an_offline_download_fails_with_the_same_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    calls = []

    def offline(url, dst, progress=True):
        calls.append((url, dst))
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(InceptionWeightsError, match="(?s)downloading .* failed .*URLError.*metrics.inception_weights"):
        load_inception(None)
    assert calls == [(inception.URL, str(tmp_path / "hub" / "checkpoints" / "inception-2015-12-05.pt"))]


def test_a_state_dict_is_refused_not_swapped(tmp_path):
    path = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, path)
    with pytest.raises(InceptionWeightsError, match="(?s)is not a TorchScript network.*torch-fidelity"):
        load_inception(str(path))


def test_the_error_survives_pickling_for_the_launcher():
    import pickle

    err = InceptionWeightsError("x is not a file.")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


@pytest.mark.parametrize("expected, standard, name", [(None, None, "inception-2015-12-05"), ("match", True, None)])
def test_the_protocol_says_whether_the_weights_are_the_standard_ones(weights, expected, standard, name):
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    evaluation = InceptionEvaluation(
        inception_weights=str(weights), inception_sha256=digest if expected == "match" else expected, num_samples=10
    )
    assert evaluation.extractor_info["weights_standard"] is standard
    assert evaluation.extractor_info["extractor"] == "inception-2015-12-05"


def test_other_weights_are_allowed_but_named_non_standard(weights):
    evaluation = InceptionEvaluation(inception_weights=str(weights), inception_sha256="0" * 64, num_samples=10)
    info = evaluation.extractor_info
    assert info["weights_standard"] is False and info["extractor"] == "inception-2015-12-05 (non-standard weights)"
    assert info["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()

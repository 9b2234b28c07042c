"""PyTorch ResNet import: a NumPy reference forward pass, accuracy on real data, bad files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from efficient_jax import models

_NPZ = "weights/resnet20-12fca82f.npz"
_PREFIX = "state_dict/module."


# ---------------------------------------------------------------- NumPy reference (PyTorch layout)
def _conv3x3(x, w_oihw, stride):
    """NHWC input, PyTorch OIHW weight, padding 1, explicit windows (float64)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::stride, ::stride]  # (N,H,W,C,3,3)
    return np.einsum("nhwcij,ocij->nhwo", windows, w_oihw)


def _bn(x, sd, name, eps=1e-5):
    g, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
    mean, var = sd[f"{name}.running_mean"], sd[f"{name}.running_var"]
    return (x - mean) / np.sqrt(var + eps) * g + b


def _relu(x):
    return np.maximum(x, 0.0)


def _numpy_resnet(sd, x, n):
    out = _relu(_bn(_conv3x3(x, sd["conv1.weight"], 1), sd, "bn1"))
    for stage, planes in enumerate((16, 32, 64), start=1):
        for j in range(n):
            p = f"layer{stage}.{j}"
            stride = 2 if stage > 1 and j == 0 else 1
            y = _relu(_bn(_conv3x3(out, sd[f"{p}.conv1.weight"], stride), sd, f"{p}.bn1"))
            y = _bn(_conv3x3(y, sd[f"{p}.conv2.weight"], 1), sd, f"{p}.bn2")
            if stride != 1 or out.shape[-1] != planes:  # option A
                pad = planes // 4
                out = np.pad(out[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (pad, pad)))
            out = _relu(y + out)
    pooled = out.mean(axis=(1, 2))
    return pooled @ sd["linear.weight"].T + sd["linear.bias"]


def _state_dict(path):
    with np.load(path, allow_pickle=False) as f:
        return {k.removeprefix(_PREFIX): f[k].astype(np.float64) for k in f.files if _PREFIX in k}


# ---------------------------------------------------------------- real weights
@pytest.mark.data
def test_matches_numpy_reference(data_dir):
    model, variables = models.load_pytorch_resnet(data_dir / _NPZ)
    assert model.depth == 20 and model.num_classes == 10
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3))
    ours = model.apply(variables, jnp.asarray(x, jnp.float32), train=False)
    ref = _numpy_resnet(_state_dict(data_dir / _NPZ), x, n=3)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.data
@pytest.mark.slow
def test_pretrained_accuracy_on_jpeg_test_set(data_dir, tmp_path):
    """All 10,000 JPEG test images: 81.03% measured (README: about 81%; 91.78% on the PNG set).

    Not the first 2,000 only: ``load_cifar10`` sorts by class, so those are airplanes and
    automobiles (76.15% on them), not a representative sample.
    """
    from efficient_jax.data import CIFAR10_MEAN, CIFAR10_STD, load_cifar10, normalize_images

    model, variables = models.load_pytorch_resnet(data_dir / _NPZ, depth=20)
    ds = load_cifar10("test", data_dir, cache_dir=tmp_path)
    assert len(ds["label"]) == 10_000
    images = normalize_images(ds["image"], CIFAR10_MEAN, CIFAR10_STD)
    predict = jax.jit(lambda v, x: jnp.argmax(model.apply(v, x, train=False), -1))
    preds = np.concatenate(
        [predict(variables, images[i : i + 1000]) for i in range(0, len(images), 1000)]
    )
    accuracy = float(np.mean(preds == ds["label"]))
    assert 0.80 <= accuracy <= 0.82, accuracy


# ---------------------------------------------------------------- bad files
def _tiny_npz(tmp_path, edit=None):
    """A PyTorch-layout ResNet-8 npz (one block per stage, random values), changed by ``edit``."""
    rng = np.random.default_rng(0)
    sd = {"conv1.weight": rng.normal(size=(16, 3, 3, 3))}

    def bn(name, c):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = rng.normal(size=c), rng.normal(size=c)
        sd[f"{name}.running_mean"], sd[f"{name}.running_var"] = rng.normal(size=c), np.ones(c)
        sd[f"{name}.num_batches_tracked"] = np.array(7)

    bn("bn1", 16)
    in_planes = 16
    for stage, planes in enumerate((16, 32, 64), start=1):
        sd[f"layer{stage}.0.conv1.weight"] = rng.normal(size=(planes, in_planes, 3, 3))
        bn(f"layer{stage}.0.bn1", planes)
        sd[f"layer{stage}.0.conv2.weight"] = rng.normal(size=(planes, planes, 3, 3))
        bn(f"layer{stage}.0.bn2", planes)
        in_planes = planes
    sd["linear.weight"], sd["linear.bias"] = rng.normal(size=(10, 64)), rng.normal(size=10)
    arrays = {_PREFIX + k: np.asarray(v, np.float32) for k, v in sd.items()}
    arrays["best_prec1"] = np.float64(50.0)
    if edit is not None:
        edit(arrays)
    path = tmp_path / "resnet.npz"
    np.savez(path, **arrays)
    return path


def test_tiny_npz_layouts(tmp_path):
    path = _tiny_npz(tmp_path)
    model, variables = models.load_pytorch_resnet(path)
    assert model.depth == 8 and model.num_classes == 10
    sd = _state_dict(path)
    params, stats = variables["params"], variables["batch_stats"]
    np.testing.assert_array_equal(
        params["layer2_0"]["conv1"]["kernel"], sd["layer2.0.conv1.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(params["linear"]["kernel"], sd["linear.weight"].T)
    np.testing.assert_array_equal(params["layer3_0"]["bn2"]["scale"], sd["layer3.0.bn2.weight"])
    np.testing.assert_array_equal(stats["bn1"]["mean"], sd["bn1.running_mean"])
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3))
    ours = model.apply(variables, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(np.asarray(ours), _numpy_resnet(sd, x, n=1), rtol=1e-4, atol=1e-3)


def test_missing_key(tmp_path):
    path = _tiny_npz(tmp_path, lambda d: d.pop(_PREFIX + "layer2.0.bn1.running_var"))
    with pytest.raises(ValueError, match=r"missing keys \['layer2\.0\.bn1\.running_var'\]"):
        models.load_pytorch_resnet(path)


def test_unexpected_key(tmp_path):
    path = _tiny_npz(tmp_path, lambda d: d.update({_PREFIX + "fc.weight": np.zeros((10, 64))}))
    with pytest.raises(ValueError, match=r"unexpected keys \['fc\.weight'\]"):
        models.load_pytorch_resnet(path)


def test_wrong_shape(tmp_path):
    path = _tiny_npz(
        tmp_path, lambda d: d.update({_PREFIX + "conv1.weight": np.zeros((16, 1, 3, 3))})
    )
    with pytest.raises(ValueError, match="Shape mismatch for 'conv1.weight'"):
        models.load_pytorch_resnet(path)


def test_explicit_depth_mismatch(tmp_path):
    with pytest.raises(ValueError, match="missing keys.*layer1.1.conv1.weight"):
        models.load_pytorch_resnet(_tiny_npz(tmp_path), depth=14)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        models.load_pytorch_resnet(tmp_path / "nope.npz")

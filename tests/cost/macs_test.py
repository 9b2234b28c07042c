import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from efficient_jax.cost import MacReport, macs, xla_flops


class SmallCNN(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        x = nn.relu(nn.Conv(16, (3, 3), padding="VALID", name="conv1")(x))
        x = nn.relu(nn.Conv(32, (3, 3), strides=2, padding="VALID", name="conv2")(x))
        x = nn.Conv(32, (3, 3), feature_group_count=4, padding="VALID", name="conv3")(x)
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(10, name="head")(x)


def test_dense_macs_are_batch_in_out(key):
    batch, d_in, d_out = 7, 5, 3
    model = nn.Dense(d_out)
    x = jnp.ones((batch, d_in))
    variables = jax.eval_shape(model.init, key, x)
    report = macs(model.apply, variables, x)
    assert report.total == batch * d_in * d_out
    assert report.flops == 2 * batch * d_in * d_out
    assert report.per_layer == {"Dense": batch * d_in * d_out}


def _conv_out(size, k, stride, padding):
    return math.ceil(size / stride) if padding == "SAME" else (size - k) // stride + 1


@pytest.mark.parametrize(
    "stride,padding,groups",
    [
        (1, "SAME", 1),
        (1, "VALID", 1),
        (2, "SAME", 1),
        (2, "VALID", 1),
        (1, "SAME", 4),
        (3, "VALID", 2),
    ],
)
def test_conv_macs_formula(key, stride, padding, groups):
    batch, h, w, c_in, c_out, k = 2, 11, 9, 8, 12, 3
    model = nn.Conv(c_out, (k, k), strides=stride, padding=padding, feature_group_count=groups)
    x = jax.ShapeDtypeStruct((batch, h, w, c_in), jnp.float32)
    variables = jax.eval_shape(model.init, key, x)
    expected = (
        batch
        * _conv_out(h, k, stride, padding)
        * _conv_out(w, k, stride, padding)
        * c_out
        * k
        * k
        * (c_in // groups)
    )
    assert macs(model.apply, variables, x).total == expected


def test_per_layer_names_follow_param_paths(key):
    x = jax.ShapeDtypeStruct((2, 12, 12, 3), jnp.float32)
    model = SmallCNN()
    variables = jax.eval_shape(model.init, key, x)
    report = macs(model.apply, variables, x, train=False)
    assert list(report.per_layer) == ["conv1", "conv2", "conv3", "head"]
    assert set(report.per_layer) <= {p for p in variables["params"]}
    assert sum(report.per_layer.values()) == report.total
    assert report.per_layer["head"] == 2 * 2 * 2 * 32 * 10  # 12 -> 10 -> 4 -> 2
    table = report.table()
    assert "conv2" in table and f"{report.total:,}" in table.splitlines()[-1]


class _Cell(nn.Module):
    @nn.compact
    def __call__(self, carry, _):
        return nn.Dense(carry.shape[-1], name="proj")(carry), None


class _Encoder(nn.Module):
    def setup(self):
        self.inp = nn.Dense(6)
        self.blocks = nn.scan(
            _Cell, variable_broadcast="params", split_rngs={"params": False}, length=5
        )()
        self.out = nn.remat(nn.Dense)(3)

    def encode(self, x):
        x, _ = self.blocks(self.inp(x), None)
        return x

    def __call__(self, x):
        return self.out(self.encode(x))


def test_scan_remat_methods_and_jit(key):
    x = jnp.ones((4, 2))
    model = _Encoder()
    variables = jax.eval_shape(model.init, key, x)
    report = macs(jax.jit(model.apply), variables, x)
    assert report.per_layer == {"inp": 4 * 2 * 6, "blocks/proj": 5 * 4 * 6 * 6, "out": 4 * 6 * 3}
    assert report.total == 48 + 720 + 72


def test_custom_vjp_and_grad_are_counted():
    @jax.custom_vjp
    def matmul(a, b):
        return a @ b

    matmul.defvjp(lambda a, b: (a @ b, (a, b)), lambda res, g: (g @ res[1].T, res[0].T @ g))
    a, b = jnp.ones((3, 4)), jnp.ones((4, 5))
    assert macs(matmul, a, b).total == 60
    assert macs(jax.grad(lambda a, b: matmul(a, b).sum(), argnums=(0, 1)), a, b).total == 180


def test_grad_of_dense_is_attributed_to_the_layer(key):
    model = nn.Sequential([nn.Dense(4), nn.relu, nn.Dense(2)])
    x = jnp.ones((8, 3))
    variables = jax.eval_shape(model.init, key, x)
    grad_fn = jax.grad(lambda v, x: model.apply(v, x).sum())
    report = macs(grad_fn, variables, x)
    # First layer: forward + weight gradient; second: forward, weight and input gradients.
    assert report.per_layer == {"layers_0": 2 * 8 * 3 * 4, "layers_2": 3 * 8 * 4 * 2}


def test_plain_functions_group_by_primitive():
    report = macs(lambda a: jnp.tanh(a @ a.T), jnp.ones((3, 2)))
    assert report == MacReport(total=18, per_layer={"dot_general": 18})
    assert macs(lambda a: a + 1, jnp.ones(3)).table().splitlines()[-1].split()[:2] == ["total", "0"]


def test_jaxpr_count_agrees_with_xla(key):
    x = jax.ShapeDtypeStruct((2, 16, 16, 3), jnp.float32)
    model = SmallCNN()
    variables = jax.eval_shape(model.init, key, x)
    report = macs(model.apply, variables, x)
    flops = xla_flops(model.apply, variables, x)
    # XLA adds the bias adds and ReLUs (~1% here); all convs are VALID, so no padded taps.
    assert flops == pytest.approx(report.flops, rel=0.05)


def test_lhs_dilation_holes_are_not_counted():
    # Input [5] dilated by 2 -> 9 positions, 4 of them holes; window 3 -> 7 outputs, 21 taps, of
    # which 11 hit real inputs.
    x, w = jnp.ones((1, 1, 5)), jnp.ones((1, 1, 3))
    conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1,), [(0, 0)], lhs_dilation=(2,))
    assert macs(conv, x, w).total == 11


def test_cond_takes_dearest_branch_and_python_args_are_static():
    def f(x, n):
        y = jax.lax.cond(x.sum() > 0, lambda a: a @ a @ a, lambda a: a @ a, x)
        return y if n > 0 else x  # `n` is a Python int: must not be traced

    assert macs(f, jnp.ones((3, 3)), 1).total == 2 * 27


def test_shard_map_counts_every_device():
    mesh = jax.make_mesh((8,), ("i",), axis_types=(jax.sharding.AxisType.Explicit,))
    f = jax.shard_map(lambda a: a @ a.T, mesh=mesh, in_specs=jax.P("i"), out_specs=jax.P("i"))
    x = jax.ShapeDtypeStruct((16, 4), jnp.float32, sharding=jax.NamedSharding(mesh, jax.P("i")))
    assert macs(f, x).total == 8 * (2 * 4 * 2)

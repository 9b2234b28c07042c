import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import ptq, qat
from efficient_jax.models import TinyBert


@functools.cache
def toy():
    """A 4-layer toy TinyBert, its calibrated W2-E2-A8 RTN model and 4 modules."""
    model = TinyBert(vocab_size=30, hidden_size=8, num_layers=4, num_heads=2,
                     intermediate_size=16, max_position=8)  # fmt: skip
    ids = jax.random.randint(jax.random.key(1), (32, 6), 0, 30)
    mask = jnp.ones((32, 6), bool).at[:16, 4:].set(False)
    variables = model.init(jax.random.key(0), ids[:1])
    calib = {"input_ids": ids, "attention_mask": mask}
    rules = ptq.ptq_rules("w2e2a8")
    qat_params, qmodel = qat.prepare(model, variables, rules, [calib])
    part = ptq.partition_modules(variables["params"], 4)
    mods, fp_vars, qvars = ptq.build_modules(model, variables, qat_params, rules, part)
    return dict(variables=variables, calib=calib, qat=qat_params, qmodel=qmodel, part=part,
                mods=mods, fp_vars=fp_vars, qvars=qvars)  # fmt: skip


def test_split_merge_roundtrip_and_rtn_equivalence():
    t = toy()
    merged = ptq.merge_qvars(t["part"], t["qvars"])
    ids = t["calib"]["input_ids"][:4]
    full = t["qmodel"]({**t["qat"], **merged}, ids)

    @jax.jit
    def chain(qvars, ids):
        x = None
        for k in range(4):
            hidden, logits = t["mods"].q_forward(k, qvars[k], x, {"input_ids": ids})
            x = hidden[-1]
        return logits

    logits = chain(t["qvars"], ids)
    assert jnp.allclose(full, logits, atol=1e-5)  # the chained quantized stages = the full model


def test_sequential_mrem_reduces_reconstruction_error(fast_compile):
    t = toy()
    cfg = ptq.ReconConfig(steps=15, batch_size=8, learning_rate=3e-3)
    before = ptq.reconstruction_error(t["mods"], t["qvars"], t["fp_vars"], t["calib"], 8)
    qvars, info = ptq.mrem_sequential(t["mods"], t["fp_vars"], t["qvars"], t["calib"], cfg)
    after = ptq.reconstruction_error(t["mods"], qvars, t["fp_vars"], t["calib"], 8)
    assert info["steps_per_module"] == [15] * 4
    assert sum(after) < sum(before)
    assert after[-1] < before[-1]  # the end of the quantized chain is closer to the float model


def test_rem_reduces_its_per_layer_loss(fast_compile):
    t = toy()
    cfg = ptq.ReconConfig(steps=1, batch_size=8, learning_rate=3e-3)
    _, first = ptq.rem(t["qmodel"], t["variables"], t["qat"], t["calib"], cfg)
    cfg = ptq.ReconConfig(steps=15, batch_size=8, learning_rate=3e-3)
    _, last = ptq.rem(t["qmodel"], t["variables"], t["qat"], t["calib"], cfg)
    assert last["final_loss"] < first["final_loss"]


def test_gradients_never_cross_module_boundaries(fast_compile):
    t = toy()
    mods = t["mods"]
    split = [mods.split_trainable(q) for q in t["qvars"]]
    trainables, frozens = [s[0] for s in split], [s[1] for s in split]
    batch = ptq._modules.gather(t["calib"], jnp.arange(8))

    @jax.jit
    def grad_norms(trainables):  # [k][j]: |d loss_k / d params_j|, teacher forcing λ = 0.5
        out = []
        for k in range(4):
            probe = lambda trs, k=k: ptq.chain_losses(  # noqa: E731
                mods, trs, frozens, t["fp_vars"], batch, 0.5
            )[k]
            grads = jax.grad(probe)(trainables)
            out.append([sum(jnp.abs(x).sum() for x in jax.tree.leaves(g)) for g in grads])
        return out

    norms = grad_norms(trainables)
    for k in range(4):
        for j in range(4):
            norm = float(norms[k][j])
            assert (norm > 0) if j == k else (norm == 0.0), (k, j, norm)


def test_parallel_pure_teacher_forcing_equals_independent_training(fast_compile):
    t = toy()
    mods, fp_vars, calib = t["mods"], t["fp_vars"], t["calib"]
    cfg = ptq.ReconConfig(steps=3, batch_size=8, learning_rate=3e-3, queue_size=1,
                          teacher_lambda=1.0, seed=3)  # fmt: skip
    got, info = ptq.mrem_parallel(mods, fp_vars, t["qvars"], calib, cfg)
    assert info["steps_per_module"] == [3] * 4

    # Reference: each module alone, on float inputs. With t0 = 1, module k at tick s trains on
    # the batch module 0 drew at tick s - k (the fill batch before tick 0).
    data_key = jax.random.fold_in(jax.random.key(cfg.seed), 0)
    fill = ptq.batch_indices(jax.random.fold_in(jax.random.key(cfg.seed), 1), 0, 32, 8)

    def batch_at(j):
        return fill if j < 0 else ptq.batch_indices(data_key, j, 32, 8)

    tx = cfg.optimizer()

    @functools.partial(jax.jit, static_argnums=0)
    def step(k, trainable, opt, frozen, idx):
        batch = ptq._modules.gather(calib, idx)
        x = None
        for j in range(k):  # float inputs: the float chain's output
            x = mods.fp_forward(j, fp_vars[j], x, batch)[0][-1]
        zeros = None if x is None else jnp.zeros_like(x)

        def loss_fn(tr):
            return mods.loss(k, tr, frozen, fp_vars[k], x, zeros, batch, 1.0)[0]

        updates, opt = tx.update(jax.grad(loss_fn)(trainable), opt, trainable)
        return optax.apply_updates(trainable, updates), opt

    for k in range(4):
        trainable, frozen = mods.split_trainable(t["qvars"][k])
        opt = tx.init(trainable)
        for s in range(cfg.steps):
            trainable, opt = step(k, trainable, opt, frozen, batch_at(s - k))
        want = jax.tree.leaves(trainable)
        have = jax.tree.leaves(mods.split_trainable(got[k])[0])
        for a, b in zip(have, want, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=2e-5)


def test_bad_inputs_raise_clear_errors():
    t = toy()
    with pytest.raises(ValueError, match=r"bits must be an integer in 2\.\.8"):
        ptq.ptq_rules("w1e2a8")
    with pytest.raises(ValueError, match="look like"):
        ptq.parse_bits("int4")
    with pytest.raises(ValueError, match="fewer than one batch"):
        ptq.mrem_sequential(t["mods"], t["fp_vars"], t["qvars"], t["calib"],
                            ptq.ReconConfig(steps=1, batch_size=64))  # fmt: skip
    with pytest.raises(ValueError, match="one device per module"):
        ptq.module_mesh(4, devices=jax.devices()[:2])
    with pytest.raises(ValueError, match="larger than the number"):
        ptq.balanced_layers(4, 5)
    with pytest.raises(ValueError, match="steps"):
        ptq.ReconConfig(steps=0)

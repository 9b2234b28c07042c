"""The APS search loop and child training as library functions: hooks, resume, bad input."""

import jax
import numpy as np
import pytest

from efficient_jax.nas.channels import (
    APSSearchConfig,
    init_search,
    init_supernet,
    make_search_steps,
    make_space,
    run_search,
    train_child,
)


def _split(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (n, 8, 8, 3), np.uint8),
        "label": rng.integers(0, 10, n).astype(np.int32),
    }


def _same(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.all(x == y)), a, b)))


@pytest.mark.usefixtures("fast_compile")
def test_run_search_hooks_and_resume_give_the_uninterrupted_result():
    space = make_space((0.5, 1.0), 8)
    split = _split()
    cfg = APSSearchConfig(
        space.macs((1, 0, 0)),
        warmup_steps=1,
        search_steps=2,
        batch_size=4,
        val_batch_size=4,
        controller_samples=2,
        beam=2,
        log_every=1,
        checkpoint_every=1,
    )
    steps = make_search_steps(space, cfg)
    saved, rows = {}, []
    full = run_search(
        space,
        "transition",
        split,
        split,
        cfg,
        steps=steps,
        checkpoint_fn=lambda step, state: saved.__setitem__(step, state),
        log_fn=lambda step, row: rows.append((step, row)),
    )
    assert sorted(saved) == [1, 2, 3]
    assert [s for s, _ in rows] == [0, 1, 2]
    assert "reward" not in rows[0][1] and "reward" in rows[1][1]  # controller after warm-up
    assert full.macs <= cfg.target_macs * (1 + cfg.budget_slack)
    resumed = run_search(
        space, "transition", split, split, cfg, steps=steps, restore_fn=lambda t: (saved[2], 2)
    )
    assert resumed.choices == full.choices and resumed.macs == full.macs
    assert _same(resumed.state, full.state)
    assert resumed.info["phi_start"] == full.info["phi_start"]
    assert resumed.info["phi_end"] == full.info["phi_end"]
    assert resumed.info["phi_end"] != full.info["phi_start"]  # APS-T annealed Φ


@pytest.mark.usefixtures("fast_compile")
def test_train_child_resumes_to_the_same_accuracy():
    space = make_space((0.5, 1.0), 8)
    split = _split()
    params, tr = init_supernet(space, "ordinal", key=jax.random.key(0), input_shape=(8, 8, 3))
    kw = dict(steps=2, learning_rate=0.05, weight_decay=0.0, batch_size=4, eval_batch_size=8)
    saved = {}
    acc = train_child(
        space,
        params,
        tr,
        (1, 0, 1),
        split,
        split,
        checkpoint_every=1,
        checkpoint_fn=lambda step, state: saved.__setitem__(step, state),
        **kw,
    )
    assert sorted(saved) == [1, 2]
    again = train_child(
        space, params, tr, (1, 0, 1), split, split, restore_fn=lambda t: (saved[1], 1), **kw
    )
    assert again == acc


def test_bad_search_settings_fail_with_what_is_allowed():
    with pytest.raises(ValueError, match="target_macs must be > 0"):
        APSSearchConfig(0.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        APSSearchConfig(1e6, batch_size=0)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        APSSearchConfig(1e6, warmup_steps=-1)
    with pytest.raises(ValueError, match="Unknown APS strategy 'greedy'"):
        init_search(make_space((0.5, 1.0), 8), "greedy", APSSearchConfig(1e6))
    cfg = APSSearchConfig.from_mapping({"target_macs": 2e6, "beam": 3, "unrelated": 1})
    assert (cfg.target_macs, cfg.beam, cfg.batch_size) == (2e6, 3, 256)

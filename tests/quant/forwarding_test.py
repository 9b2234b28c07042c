"""Transition only: the old ``quant.<name>`` of moved names forwards with a DeprecationWarning.

Delete this file together with ``__getattr__`` in ``efficient_jax/quant/__init__.py``.
"""

import pytest

from efficient_jax import binarybert, qat, quant


def test_moved_names_forward_with_a_warning():
    with pytest.warns(DeprecationWarning, match="moved to efficient_jax.qat.prepare"):
        assert quant.prepare is qat.prepare
    with pytest.warns(DeprecationWarning, match="efficient_jax.qat.calibrate"):
        assert quant.calibrate_model is qat.calibrate
    with pytest.warns(DeprecationWarning, match="efficient_jax.binarybert.tws_split_model"):
        from efficient_jax.quant import tws_split_model
    assert tws_split_model is binarybert.tws_split_model
    assert "prepare" not in quant.__all__
    with pytest.raises(AttributeError):
        quant.no_such_name  # noqa: B018

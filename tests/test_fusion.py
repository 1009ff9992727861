import numpy as np
import pytest

from vraagbaak.qa.fusion import max_per_group, minmax, ranks_of, rrf, weighted_sum, zscore


def test_ranks() -> None:
    assert ranks_of(np.array([0.1, 0.9, 0.5])).tolist() == [3, 1, 2]


def test_rrf_prefers_agreement() -> None:
    a = np.array([3.0, 2.0, 1.0])
    b = np.array([1.0, 3.0, 2.0])
    fused = rrf([a, b], k=60)
    assert fused.argmax() == 1  # rank 2 and rank 1 beats rank 1 and rank 3
    assert fused[1] == pytest.approx(1 / 62 + 1 / 61)


def test_rrf_weights() -> None:
    a = np.array([1.0, 0.0])
    b = np.array([0.0, 1.0])
    assert rrf([a, b], weights=[2.0, 1.0]).argmax() == 0
    assert rrf([a, b], weights=[1.0, 2.0]).argmax() == 1


def test_normalisers() -> None:
    s = np.array([1.0, 2.0, 3.0])
    assert zscore(s).mean() == pytest.approx(0)
    assert minmax(s).tolist() == [0.0, 0.5, 1.0]
    assert zscore(np.ones(3)).tolist() == [0, 0, 0]
    ws = weighted_sum([s, s[::-1]], [1.0, 0.5])
    assert ws.argmax() == 2


def test_max_per_group_handles_empty_groups() -> None:
    vals = np.array([0.1, 0.5, 0.3, 0.9])
    offsets = np.array([0, 2, 2, 4])
    assert max_per_group(vals, offsets, empty=-1).tolist() == [0.5, -1, 0.9]


def test_retrieval_settings_name_allowed_values() -> None:
    from vraagbaak.errors import InputError
    from vraagbaak.qa.answer import AnswerSettings
    from vraagbaak.qa.search import RetrievalSettings

    with pytest.raises(InputError, match="fusion must be one of zscore, minmax, rrf"):
        RetrievalSettings(fusion="sum")
    with pytest.raises(InputError, match="window must be one of"):
        AnswerSettings(window="both")

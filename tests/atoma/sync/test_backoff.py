import pytest

from atoma.sync.backoff import Backoff, backoff_delay


def test_delay_grows_exponentially_with_equal_jitter() -> None:
    lo = [backoff_delay(a, base=1, factor=2, cap=1000, rand=lambda: 0.0) for a in range(5)]
    hi = [backoff_delay(a, base=1, factor=2, cap=1000, rand=lambda: 1.0) for a in range(5)]
    assert lo == [0.5, 1, 2, 4, 8]
    assert hi == [1, 2, 4, 8, 16]


def test_delay_is_capped_and_respects_floor() -> None:
    assert backoff_delay(50, base=1, cap=30, rand=lambda: 1.0) == 30
    assert backoff_delay(50, base=1, cap=30, rand=lambda: 0.0) == 15
    assert backoff_delay(0, base=0.5, floor=3.0, cap=30, rand=lambda: 1.0) == 3.0
    assert backoff_delay(10_000, base=1, cap=5, rand=lambda: 0.5) <= 5


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        backoff_delay(-1)
    with pytest.raises(ValueError):
        backoff_delay(0, rand=lambda: 2.0)
    with pytest.raises(ValueError):
        Backoff(base=0)


def test_backoff_counts_and_resets() -> None:
    values = iter([0.0, 0.0, 0.0, 1.0])
    b = Backoff(base=1, cap=100, rand=lambda: next(values))
    assert [b.next(), b.next(), b.next()] == [0.5, 1.0, 2.0]
    assert b.attempt == 3
    b.reset()
    assert b.next() == 1.0

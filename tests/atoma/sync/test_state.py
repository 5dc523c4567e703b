import pytest

from atoma.sync.state import SyncStatus, transition


@pytest.mark.parametrize(
    ("state", "signal", "expected"),
    [
        ("offline", "start", "connecting"),
        ("offline", "ok", "offline"),
        ("offline", "fail", "offline"),
        ("connecting", "ok", "live"),
        ("connecting", "fail", "backoff"),
        ("live", "fail", "backoff"),
        ("live", "lost", "connecting"),
        ("backoff", "lost", "backoff"),
        ("backoff", "retry", "connecting"),
        ("live", "retry", "live"),
        ("backoff", "ok", "live"),
        ("live", "stop", "offline"),
        ("backoff", "stop", "offline"),
        ("live", "start", "live"),
    ],
)
def test_transitions(state: str, signal: str, expected: str) -> None:
    assert transition(state, signal) == expected  # type: ignore[arg-type]


def test_every_state_and_signal_is_handled() -> None:
    for s in ("offline", "connecting", "live", "backoff"):
        for sig in ("start", "stop", "ok", "fail", "retry", "lost"):
            assert transition(s, sig) in ("offline", "connecting", "live", "backoff")  # type: ignore[arg-type]


def test_status_defaults() -> None:
    st = SyncStatus()
    assert st.state == "offline" and st.pending == 0 and st.last_error is None

"""The sequencer: each partition's events in offset order, with no hole, per generation."""

from __future__ import annotations

from streams.sequence import Sequencer


def test_in_order_events_pass_and_repeats_below_pass_too() -> None:
    s = Sequencer[str]()
    kept, dropped, seeks = s.admit(1, [("p", 5, 0, "a"), ("p", 6, 0, "b"), ("p", 5, 0, "a2")])
    assert (kept, dropped, seeks) == (["a", "b", "a2"], [], {})  # a redelivery: the state knows
    assert s.expected == {"p": 7}


def test_a_hole_drops_the_rest_until_the_fetch_after_the_seek() -> None:
    s = Sequencer[str]()
    assert s.admit(1, [("p", 0, 0, "0"), ("p", 3, 0, "3"), ("q", 0, 0, "q0")]) == (
        ["0", "q0"],
        ["3"],
        {"p": 1},
    )
    # still in flight from before the seek: dropped, no second seek
    assert s.admit(1, [("p", 4, 0, "4")]) == ([], ["4"], {})
    # fetched after it: from the first missing offset
    assert s.admit(1, [("p", 1, 1, "1"), ("p", 2, 1, "2"), ("p", 3, 1, "3")]) == (
        ["1", "2", "3"],
        [],
        {},
    )
    assert (s.holes, s.real_holes) == (1, 0)


def test_a_real_hole_is_accepted_once_the_fetch_after_the_seek_starts_past_it() -> None:
    s = Sequencer[str]()
    s.admit(1, [("p", 0, 0, "0"), ("p", 2, 0, "2")])  # offset 1: a transaction marker
    assert s.admit(1, [("p", 2, 1, "2"), ("p", 3, 1, "3")]) == (["2", "3"], [], {})
    assert (s.holes, s.real_holes) == (1, 1)


def test_the_start_is_the_committed_offset_and_a_new_generation_starts_over() -> None:
    s = Sequencer[str]()
    committed = {"p": 10}.get
    assert s.admit(1, [("p", 12, 0, "12")], committed) == ([], ["12"], {"p": 10})
    # a rebalance: the group fetches from the committed offset again
    assert s.admit(2, [("p", 10, 0, "10"), ("p", 11, 0, "11")], committed) == (
        ["10", "11"],
        [],
        {},
    )

"""The heap freeze after a model swap: long-lived objects leave the cyclic collector, garbage does not stay."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from arf_ids.serving.runtime import freeze_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_freeze_collects_cycles_first_then_freezes_what_lives(unfrozen: None) -> None:
    kept = Node()
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    frozen_before = gc.get_freeze_count()
    freeze_heap()
    assert gone() is None, "an unreachable cycle was frozen instead of collected"
    assert gc.get_freeze_count() > frozen_before
    later = Node()
    assert any(obj is later for obj in gc.get_objects()) and not any(obj is kept for obj in gc.get_objects())


def test_a_second_freeze_collects_cycles_of_objects_frozen_before(unfrozen: None) -> None:
    old_model = Node()
    freeze_heap()
    released = weakref.ref(old_model)
    del old_model  # a swapped-out model: frozen while it served, unreachable now
    freeze_heap()
    assert released() is None

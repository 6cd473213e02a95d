"""Compound queries: the time-relation join and its RRF ranking, on hand-computed cases."""

import itertools
import random

import pytest
from tempme.index.query.compound import JoinedMoment, PartHit, Relation, join_parts, rrf_score


def hit(video, start, end, rank, name=None):
    return PartHit(video, start, end, rank, name)


# part 1 ("a goal") and part 2 ("crowd cheers"), ranks as their searches gave them
GOAL = [hit(1, 10, 12, 1, "a1"), hit(2, 5, 7, 2, "a2"), hit(1, 40, 42, 3, "a3")]
CHEER = [hit(1, 45, 47, 1, "b1"), hit(1, 13, 15, 2, "b2"), hit(2, 20, 22, 3, "b3"), hit(2, 6, 8, 4, "b4")]


def names(result: list[JoinedMoment]) -> list[tuple[str, ...]]:
    return [tuple(h.item for h in m.hits) for m in result]


def test_then_joins_in_order_within_the_window_ranked_by_rrf():
    out = join_parts([GOAL, CHEER], [Relation("then", 10)])
    # a1 (ends 12) -> b2 (starts 13): gap 1 s; a3 (ends 42) -> b1 (starts 45): gap 3 s.
    # a1 -> b1 is 33 s later (too far); a2 (ends 7) -> b3 (starts 20) 13 s (too far); b4 starts before a2 ends.
    assert names(out) == [("a1", "b2"), ("a3", "b1")]
    # by hand, k = 60: 1/61 + 1/62 = 0.0325224..., 1/63 + 1/61 = 0.0322664...
    assert out[0].score == pytest.approx(0.03252247, abs=1e-8)
    assert out[1].score == pytest.approx(0.03226646, abs=1e-8)
    assert [m.rank for m in out] == [1, 2]
    assert out[0].ranks == (1, 2) and out[1].ranks == (3, 1)
    assert (out[0].video_id, out[0].start_s, out[0].end_s) == (1, 10, 15)  # the union of both moments
    assert (out[1].start_s, out[1].end_s) == (40, 47)


def test_while_joins_only_overlapping_moments():
    out = join_parts([GOAL, CHEER], [Relation("while")])
    assert names(out) == [("a2", "b4")]  # 5-7 and 6-8 overlap; nothing else does
    assert out[0].score == pytest.approx(1 / 62 + 1 / 64)
    assert (out[0].start_s, out[0].end_s) == (5, 8)


def test_boundaries_then_inclusive_while_strict():
    a = [hit(1, 0, 2, 1)]
    touching, at_limit, past_limit = hit(1, 2, 3, 1), hit(1, 7, 8, 2), hit(1, 7.01, 8, 3)
    out = join_parts([a, [touching, at_limit, past_limit]], [Relation("then", 5)], unique=False)
    assert [m.hits[1] for m in out] == [touching, at_limit]  # gap 0 and gap == within count
    assert join_parts([a, [touching]], [Relation("while")]) == []  # touching is not overlapping
    assert join_parts([a, [hit(2, 1, 3, 1)]], [Relation("while")]) == []  # another video never joins


def test_ties_go_to_the_better_best_rank_then_part_order():
    a = [hit(1, 0, 1, 1, "x1"), hit(2, 0, 1, 3, "y1")]
    b = [hit(2, 1, 2, 1, "y2"), hit(1, 1, 2, 3, "x2")]
    out = join_parts([a, b], [Relation("then", 1)])
    # (1, 3) and (3, 1) score the same (1/61 + 1/63); the best ranks tie (1); (1, 3) < (3, 1)
    assert out[0].score == out[1].score
    assert names(out) == [("x1", "x2"), ("y1", "y2")]


def test_unique_uses_each_moment_once_greedily():
    a = [hit(1, 10, 12, 1, "a1"), hit(1, 14.5, 15, 2, "a2")]
    b = [hit(1, 13, 14, 1, "b1"), hit(1, 15, 16, 2, "b2")]
    rel = [Relation("then", 10)]
    # all chains: a1-b1 2/61, a1-b2 1/61+1/62, a2-b2 2/62 (a2-b1: b1 starts before a2 ends)
    assert names(join_parts([a, b], rel, unique=False)) == [("a1", "b1"), ("a1", "b2"), ("a2", "b2")]
    assert names(join_parts([a, b], rel)) == [("a1", "b1"), ("a2", "b2")]
    assert len(join_parts([a, b], rel, unique=False, limit=2)) == 2


def test_three_parts_chain_and_k():
    a, b, c = [hit(1, 0, 2, 2, "a")], [hit(1, 3, 5, 1, "b")], [hit(1, 4, 9, 5, "c")]
    out = join_parts([a, b, c], [Relation("then", 2), Relation("while")], k=10)
    assert names(out) == [("a", "b", "c")]
    assert out[0].score == pytest.approx(1 / 12 + 1 / 11 + 1 / 15)
    assert (out[0].start_s, out[0].end_s) == (0, 9)
    assert join_parts([a, b, c], [Relation("then", 0.5), Relation("while")]) == []


def test_matches_a_brute_force_enumeration():
    rng = random.Random(0)

    def part(n):
        hits = []
        for r in range(1, n + 1):
            s = rng.uniform(0, 60)
            hits.append(hit(rng.randint(1, 3), s, s + rng.uniform(0.5, 6), r))
        return hits

    for _ in range(20):
        p1, p2 = part(12), part(12)
        for kind in ("then", "while"):
            rel = Relation(kind, 8)
            expected = sorted(
                rrf_score([x.rank, y.rank])
                for x, y in itertools.product(p1, p2)
                if x.video_id == y.video_id
                and (0 <= y.start_s - x.end_s <= 8 if kind == "then" else x.start_s < y.end_s and y.start_s < x.end_s)
            )
            got = join_parts([p1, p2], [rel], unique=False)
            assert sorted(m.score for m in got) == pytest.approx(expected)
            assert [m.score for m in got] == sorted((m.score for m in got), reverse=True)


@pytest.mark.parametrize(
    "parts, relations, k, message",
    [
        ([GOAL], [], 60, "at least 2 parts"),
        ([GOAL, CHEER], [], 60, "need 1 relations"),
        ([GOAL, CHEER], [Relation()], 0, "k must be > 0"),
        ([GOAL, [hit(1, 0, 1, 0)]], [Relation()], 60, "1-based"),
    ],
)
def test_bad_input_is_one_line(parts, relations, k, message):
    with pytest.raises(ValueError, match=message) as err:
        join_parts(parts, relations, k=k)
    assert "\n" not in str(err.value)


def test_relation_validates():
    with pytest.raises(ValueError, match="then, while"):
        Relation("before")
    with pytest.raises(ValueError, match=">= 0"):
        Relation("then", -1)

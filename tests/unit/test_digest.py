"""The conversation digest's hashing (pure): the contract ``tidings_receiver`` computes too.

The hashes are written out, not computed here: a change to the definition (the line, the
order, the joining) must fail this test, because it breaks every client's comparison.
"""

from __future__ import annotations

from tidings.desk.digest import digest

VERSIONS = [
    (2, "2026-12-06T07:30:02Z", "published"),
    (3, "2026-01-01T00:00:00Z", "draft"),
    (4, "2026-12-06T07:31:00Z", "deleted"),
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BUCKET_0 = "da581159d517b86e688b3c8fe2b2beaab8bff7ba606bcf7d0521380aa4ee1429"  # 2 and 4
BUCKET_1 = "1b36199ce18d6dd3d7efad21db091ef7fe808d21cba740198d506d957b48f47a"  # 3 alone


def test_three_buckets() -> None:
    assert digest(VERSIONS, 3).as_json() == {
        "buckets": 3,
        "total": 3,
        "hash": "8d548c7189cfed74c7343859d74ea035fc57d03744972c56217b1c87f319279a",
        "items": [
            {"bucket": 0, "count": 1, "hash": BUCKET_1},  # 3 % 3 == 0
            {
                "bucket": 1,
                "count": 1,
                "hash": "8f49072ea2a2fb72b19a5b7a6bb282f498cd2ae951fd671efb37b7ce2f371938",
            },
            {
                "bucket": 2,
                "count": 1,
                "hash": "f90527311fdc0b18d502ab9c0286e66ad5b7239751c1cbd6ac5cda6a965e71c5",
            },
        ],
    }


def test_two_buckets_with_their_lines_in_id_order() -> None:
    found = digest(VERSIONS, 2)
    assert found.counts == [2, 1]
    assert found.hashes == [BUCKET_0, BUCKET_1]
    assert found.hash == "52bc9e9a767c0c22c7d5de288821b61ff5eb9b152a4cecd4955d2ef8b05412eb"
    assert found.listed is None


def test_an_empty_bucket_hashes_nothing() -> None:
    found = digest(VERSIONS[:1], 3)
    assert found.counts == [0, 0, 1]
    assert found.hashes[:2] == [EMPTY, EMPTY]


def test_one_bucket_listed() -> None:
    assert digest(VERSIONS, 2, listed=0).listed == [VERSIONS[0], VERSIONS[2]]
    assert digest(VERSIONS, 2, listed=1).as_json()["conversations"] == [
        {"id": 3, "updatedAt": "2026-01-01T00:00:00Z", "state": "draft"}
    ]
    assert digest([], 5, listed=4).as_json()["conversations"] == []


def test_the_receiver_kit_computes_the_same_digest() -> None:
    """The kit is a separate distribution with its own copy of the definition: the two must
    agree, or every reconciliation reports differences that are not there."""
    from tidings_receiver import digest as kit

    served = digest(VERSIONS, 3).as_json()
    local = kit.digest([kit.item(v) for v in VERSIONS], 3)
    assert list(local.hashes) == [b["hash"] for b in served["items"]]
    assert list(local.counts) == [b["count"] for b in served["items"]]
    assert local.hash == served["hash"]

"""The anatomy catalog is the single source of names: check it against DATA.md facts."""

import pytest

from ramkit import anatomy as A


def test_hand_bones_are_30_in_dataset_order():
    assert len(A.HAND_BONES) == 30
    assert A.HAND_BONES[0] == "Capitate" and A.HAND_BONES[22] == "Pisifrom_Triquetrum" and A.HAND_BONES[-1] == "Ulna"


def test_bone_categories_drop_to_hand_bones_in_id_order():
    cats = A.h1200_bone_categories()
    kept = [
        c["name"]
        for c in sorted(cats, key=lambda c: c["id"])
        if c["id"] != 0 and c["name"] not in A.DROPPED_BONE_CATEGORY_NAMES
    ]
    assert kept == list(A.HAND_BONES)
    assert {c["name"] for c in cats} >= set(A.NON_BONE_OBJECTS)


def test_joint_counts_keys_and_display_names():
    assert len(A.BE_JOINTS) == 16 and len(A.JSN_JOINTS) == 15 and len(A.W600_JOINTS) == 6
    assert A.joint_by_stem("be", "MCP-T").display == "MCP1"
    assert A.joint_by_stem("be", "Tm").key == "BE_Tm"
    assert A.joint_by_stem("jsn", "STT").key == "JSN_STT"
    assert A.joint_by_stem("w600", "Trapzium").stem == "Trapezium"
    with pytest.raises(KeyError):
        A.joint_by_stem("jsn", "R")


def test_score_sets_and_totals():
    assert A.SCORE_VALUES["be"] == (0, 1, 2, 3, 5)
    assert A.SCORE_VALUES["jsn"] == (0, 1, 2, 3, 4)
    assert A.MAX_TOTAL == {"be": 80, "jsn": 60, "w600": 30}


def test_overlap_pairs_resolve_by_name_for_hand_and_wrist():
    hand = A.overlap_pairs_for(A.HAND_BONES)
    # official indices (anchor-code-study 2.3)
    assert hand == [
        (23, 24),
        (23, 7),
        (24, 27),
        (0, 24),
        (27, 8),
        (0, 10),
        (6, 11),
        (7, 24),
        (27, 28),
        (0, 28),
        (6, 12),
        (27, 9),
        (28, 9),
        (9, 10),
    ]
    wrist = A.overlap_pairs_for(A.WRIST_BONES)
    assert len(wrist) == 14 and wrist[0] == (A.WRIST_BONES.index("DistalRadius"), A.WRIST_BONES.index("Scaphoid"))
    assert A.overlap_pairs_for(["a", "b"]) == []


def test_wrist_mapping_is_a_bijection():
    assert len(A.WRIST_BONES) == 14
    assert sorted(A.WRIST_TO_HAND.values()) == sorted(set(A.WRIST_TO_HAND.values()))
    assert all(h in A.HAND_BONES for h in A.WRIST_TO_HAND.values())


def test_w600_joints_map_to_be_joints():
    assert set(A.W600_JOINT_TO_BE_STEM) == {j.stem for j in A.W600_JOINTS}
    assert {A.joint_by_stem("be", s).display for s in A.W600_JOINT_TO_BE_STEM.values()} == {
        "CMC1",
        "Trapezium",
        "Scaphoid",
        "Lunate",
        "Radius",
        "Ulna",
    }

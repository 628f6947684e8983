"""Celeb-DF list parsing and identities."""

from deepfake_lightning.data.layouts.celebdf import identity_of, parse_test_list


def test_parse_converts_labels_and_reports_malformed(tmp_path):
    p = tmp_path / "List_of_testing_videos.txt"
    p.write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n\nbroken\n2 x.mp4\n1 Celeb-real/id3_0001.mp4\n"
    )
    labels, bad = parse_test_list(p)
    assert labels == {
        "YouTube-real/00170.mp4": 0,
        "Celeb-synthesis/id0_id1_0000.mp4": 1,
        "Celeb-real/id3_0001.mp4": 0,
    }
    assert [b["path"].rsplit(":", 1)[1] for b in bad] == ["4", "5"]
    assert all("malformed" in b["reason"] for b in bad)


def test_identity_of():
    assert identity_of("Celeb-real/id12_0003.mp4") == "id12"
    assert identity_of("Celeb-synthesis/id12_id4_0003.mp4") == "id12"
    assert identity_of("YouTube-real/00042.mp4") == "yt00042"

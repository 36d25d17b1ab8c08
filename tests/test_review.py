"""`galseg review`: pairs, storage, the web app's security and the report (no browser;
the browser tests are in test_review_browser.py)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scipy import stats

from _review_server import ReviewerClient, ReviewServer
from galseg.cli.main import build_parser, main
from galseg.data.gz3d import gz3d_wcs
from galseg.data.maps import predicted_vote_mask, read_vote_maps_fits, write_vote_maps_fits
from galseg.errors import InputFileError
from galseg.labels.rasterize import VoteMaps
from galseg.review.prepare import mask_outline, prepare_review
from galseg.review.report import choice_for, fleiss_kappa, outcome, review_report
from galseg.review.sources import MapFile, find_map_files, read_mask
from galseg.review.store import CHOICES, ReviewConflict, ReviewStore


@pytest.fixture
def review_dir(review_sources, tmp_path) -> Path:
    """A review of all 10 galaxies (identical masks kept), model (A) vs crowd (B)."""
    prepare_review(review_sources["model"], review_sources["crowd"], review_sources["images"],
                   tmp_path / "review", names=("model", "crowd"), keep_identical=True,
                   progress=False)
    return tmp_path / "review"


# ------------------------------------------------------------------ preparing pairs
def test_prepare_pairs_the_two_sources_by_sky_and_draws_balanced_sides(review_sources,
                                                                       review_dir):
    store = ReviewStore(review_dir)
    pairs = store.pairs()
    assert len(pairs) == 10
    # the volunteers' files are named gz3d_<name>_127_<k>: matched by sky position
    for pair in pairs:
        assert Path(pair["a_file"]).name == f"{pair['name']}_masks.fits"
        assert Path(pair["b_file"]).name.startswith(f"gz3d_{pair['name']}_127_")
        assert (review_dir / pair["image_file"]).is_file()
        assert pair["name"] not in pair["image_file"]  # served names say nothing
    assert sorted(p["left_source"] for p in pairs) == ["a"] * 5 + ["b"] * 5
    meta = store.meta
    assert (meta["feature"], meta["threshold_votes"]) == ("spiral", "3")
    assert (meta["source_a_name"], meta["source_b_name"]) == ("model", "crowd")
    # the same seed draws the same sides; reviewers' orders are random permutations
    again = prepare_review(review_sources["model"], review_sources["crowd"],
                           review_sources["images"], review_dir.parent / "again",
                           keep_identical=True, progress=False)
    assert ({p["name"]: p["left_source"] for p in again.store.pairs()}
            == {p["name"]: p["left_source"] for p in pairs})


def test_masks_follow_each_sources_own_threshold_rule(review_sources, review_dir):
    pair = max(ReviewStore(review_dir).pairs(), key=lambda p: p["a_pixels"] + p["b_pixels"])
    assert pair["a_pixels"] > 0 and pair["b_pixels"] > 0
    with fits.open(pair["a_file"]) as hdul:
        fraction = hdul["SPIRAL_VOTE_FRACTION"].data
    assert pair["a_pixels"] == predicted_vote_mask(fraction, 3).sum()
    assert pair["b_pixels"] == (read_vote_maps_fits(pair["b_file"]).count("spiral") >= 3).sum()
    # a higher threshold never adds pixels
    model = MapFile(Path(pair["a_file"]), pair["name"], "model")
    assert read_mask(model, "spiral", 5, shape=fraction.shape).sum() <= pair["a_pixels"]


def test_identical_masks_are_left_out_by_default(review_sources, tmp_path):
    result = prepare_review(review_sources["model"], review_sources["crowd"],
                            review_sources["images"], tmp_path / "r", progress=False)
    pairs = result.store.pairs()
    assert result.n_matched == 10
    assert len(pairs) + result.n_identical == 10
    assert all(p["a_pixels"] + p["b_pixels"] > 0 for p in pairs)


def test_n_draws_a_subset_and_an_existing_review_is_never_overwritten(review_sources,
                                                                      review_dir):
    result = prepare_review(review_sources["model"], review_sources["crowd"],
                            review_sources["images"], review_dir.parent / "four", n=4,
                            keep_identical=True, seed=3, progress=False)
    assert result.n_pairs == 4
    with pytest.raises(FileExistsError):
        prepare_review(review_sources["model"], review_sources["crowd"],
                       review_sources["images"], review_dir, progress=False)


def test_bad_sources_are_clear_errors(review_sources, tmp_path):
    with pytest.raises(InputFileError, match=r"no <name>_masks\.fits"):
        find_map_files(tmp_path)
    with pytest.raises(InputFileError, match="not a folder"):
        find_map_files(tmp_path / "missing")
    # maps of another size than the image, and no WCS to resample them with
    maps = VoteMaps(np.zeros((20, 20), np.int32), np.zeros((20, 20), np.int32), n_volunteers=15)
    write_vote_maps_fits(tmp_path / "x_votes.fits", maps)
    with pytest.raises(InputFileError, match="do not match the image's 48 x 48"):
        read_mask(MapFile(tmp_path / "x_votes.fits", "x", "crowd"), "spiral", 3,
                  shape=(48, 48))


def test_maps_on_another_grid_are_resampled_onto_the_images_wcs(tmp_path):
    # a disc of radius 6" drawn by all 15 volunteers on a 0.1"/px grid, shown on 0.25"/px
    fine = 160
    yy, xx = np.mgrid[:fine, :fine] - (fine - 1) / 2
    counts = np.where(np.hypot(xx, yy) * 0.1 <= 6.0, 15, 0).astype(np.int32)
    maps = VoteMaps(counts, np.zeros_like(counts), n_volunteers=15,
                    wcs=gz3d_wcs((fine, fine), 150.0, 2.0, pixscale_arcsec=0.1))
    image_wcs = gz3d_wcs((64, 64), 150.0, 2.0, pixscale_arcsec=0.25)
    path = tmp_path / "disc_votes.fits"
    write_vote_maps_fits(path, maps)
    mask = read_mask(MapFile(path, "disc", "crowd"), "spiral", 8, shape=(64, 64), wcs=image_wcs)
    area_arcsec2 = mask.sum() * 0.25**2
    assert area_arcsec2 == pytest.approx(np.pi * 6.0**2, rel=0.08)


def test_mask_outline_traces_between_pixel_centres():
    mask = np.zeros((6, 7), bool)
    mask[2:4, 1:5] = True  # x 1..4, y 2..3
    (path,) = mask_outline(mask)
    xy = np.array(path).reshape(-1, 2)
    assert xy[:, 0].min() == 0.5 and xy[:, 0].max() == 4.5
    assert xy[:, 1].min() == 1.5 and xy[:, 1].max() == 3.5
    single = np.zeros((3, 3), bool)
    single[1, 2] = True
    (diamond,) = mask_outline(single)
    assert set(map(tuple, np.array(diamond).reshape(-1, 2).tolist())) == {
        (1.5, 1.0), (2.0, 0.5), (2.5, 1.0), (2.0, 1.5)}
    assert mask_outline(np.zeros((4, 4), bool)) == []


# ------------------------------------------------------------------ storage
def test_store_keeps_every_choice_and_undo_keeps_the_row(review_dir):
    store = ReviewStore(review_dir)
    alice = store.reviewer_for_token(store.add_reviewer("Alice"))
    assert store.state(alice) == {"n_pairs": 10, "n_done": 0, "position": 1, "last": None}
    store.record_choice(alice, 1, "left")
    state = store.record_choice(alice, 2, "both_bad")
    assert state["position"] == 3 and state["last"] == {"position": 2, "choice": "both_bad"}
    with pytest.raises(ReviewConflict):
        store.record_choice(alice, 2, "left")  # a stale page
    with pytest.raises(ReviewConflict):
        store.undo_last(alice, 1)  # not the latest
    state = store.undo_last(alice, 2)
    assert state["position"] == 2 and state["n_done"] == 1
    store.record_choice(alice, 2, "right")
    rows = store.choices(include_undone=True)
    assert [(r["choice"], r["undone_at"] is not None) for r in rows] == [
        ("left", False), ("both_bad", True), ("right", False)]
    with pytest.raises(ValueError):
        store.record_choice(alice, 3, "'; DROP TABLE choices; --")
    db = sqlite3.connect(review_dir / "review.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # only the token's hash is stored
    token_rows = db.execute("SELECT token_sha256 FROM reviewers").fetchall()
    db.close()
    assert all(len(row[0]) == 64 for row in token_rows)


def test_each_reviewer_has_their_own_order_and_names_are_unique(review_dir):
    store = ReviewStore(review_dir)
    tokens = [store.add_reviewer(name) for name in ("A. One", "B. Two")]
    one, two = (store.reviewer_for_token(t) for t in tokens)
    orders = [[store.item(r, k)["image_file"] for k in range(1, 11)] for r in (one, two)]
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]
    with pytest.raises(ValueError, match="exists"):
        store.add_reviewer("A. One")
    new = store.add_reviewer("A. One", new_link=True)
    assert store.reviewer_for_token(tokens[0]) is None
    assert store.reviewer_for_token(new).name == "A. One"
    assert store.reviewer_for_token("x" * 500) is None


# ------------------------------------------------------------------ the web app
@pytest.fixture
def server(review_dir):
    with ReviewServer(review_dir) as running:
        yield running


def _invite(review_dir: Path, name: str) -> str:
    return ReviewStore(review_dir).add_reviewer(name)


def test_serve_listens_on_loopback_by_default():
    args = build_parser().parse_args(["review", "serve", "somewhere"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)


def test_no_valid_token_gets_403_and_no_image(review_dir, server):
    token = _invite(review_dir, "Alice")
    status, headers, body = server.request("GET", "/img/1.png", token=token)
    assert status == 200 and body.startswith(b"\x89PNG") and headers["content-type"] == "image/png"
    for bad in (None, "", "not-a-token", token[:-1], token + "x"):
        for path in ("/img/1.png", "/", "/api/state", "/api/item/1", "/static/review.js",
                     "/nothing/here"):
            status, headers, body = server.request("GET", path, token=bad)
            assert status == 403, (bad, path)
            assert not body.startswith(b"\x89PNG") and b"outlines" not in body
            assert headers["content-type"].startswith("text/plain")
        status, _, _ = server.request("POST", "/api/choice", token=bad,
                                      body={"position": 1, "choice": "left"})
        assert status == 403
    status, _, _ = server.request("GET", "/r/not-a-token")
    assert status == 403
    assert ReviewStore(review_dir).choices(include_undone=True) == []


def test_link_sets_an_httponly_cookie_and_pages_forbid_framing(review_dir, server):
    token = _invite(review_dir, "Alice")
    status, headers, _ = server.request("GET", f"/r/{token}")
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert f"{server.cookie}={token}" in cookie and "HttpOnly" in cookie
    assert server.cookie.startswith("galseg_review_") and len(server.cookie) == 26
    assert "samesite=lax" in cookie.lower()
    status, headers, page = server.request("GET", "/", token=token)
    assert status == 200 and b"Which outline marks the spiral arms better?" in page
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_posts_need_the_same_origin_token_json_and_this_origin(review_dir, server):
    token = _invite(review_dir, "Alice")
    client = ReviewerClient(server, token)
    body = {"position": 1, "choice": "left"}
    good = {"X-Review-Token": client.same_origin_token, "Origin": server.base}
    refused = [
        ({"Origin": server.base}, 403),                                  # no token
        ({**good, "X-Review-Token": "0" * 64}, 403),                     # wrong token
        ({**good, "Origin": "http://evil.example"}, 403),                # another origin
        ({**good, "Sec-Fetch-Site": "cross-site"}, 403),
    ]
    for headers, expected in refused:
        status, _, _ = server.request("POST", "/api/choice", token=token, body=body,
                                      headers=headers)
        assert status == expected, headers
    # a plain form post (what another site can make a browser send) is refused
    status, _, _ = server.request("POST", "/api/choice", token=token,
                                  body="position=1&choice=left",
                                  headers={**good, "Content-Type":
                                           "application/x-www-form-urlencoded"})
    assert status == 415
    # the token of another reviewer's page does not work either
    other = ReviewerClient(server, _invite(review_dir, "Bob"))
    status, _, _ = server.request("POST", "/api/choice", token=token, body=body,
                                  headers={**good, "X-Review-Token": other.same_origin_token})
    assert status == 403
    assert ReviewStore(review_dir).choices() == []
    status, state = client.post("/api/choice", body)
    assert status == 200 and state["n_done"] == 1
    for bad_body in ({"position": "1", "choice": "left"}, {"position": 2, "choice": "A"},
                     {"position": True, "choice": "left"}):
        assert client.post("/api/choice", bad_body)[0] == 400
    assert client.post("/api/choice", {"position": 1, "choice": "left"})[0] == 409


def test_request_size_limits(review_dir, server):
    token = _invite(review_dir, "Alice")
    client = ReviewerClient(server, token)
    headers = {"X-Review-Token": client.same_origin_token, "Content-Type": "application/json"}
    big = json.dumps({"position": 1, "choice": "left", "pad": "x" * 5000})
    status, _, _ = server.request("POST", "/api/choice", token=token, body=big, headers=headers)
    assert status == 413
    # a body streamed in chunks, with no length announced, is cut off too
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/api/choice")
    for name, value in {**headers, "Cookie": f"{server.cookie}={token}",
                        "Transfer-Encoding": "chunked"}.items():
        connection.putheader(name, value)
    connection.endheaders()
    for _ in range(8):
        chunk = b"x" * 512
        connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    connection.send(b"0\r\n\r\n")
    assert connection.getresponse().status == 413
    connection.close()
    # headers beyond the server's limit
    status, _, _ = server.request("GET", "/api/state", token=token,
                                  headers={"X-Padding": "y" * 40_000})
    assert status in (400, 413, 431)
    assert ReviewStore(review_dir).choices() == []


def test_a_reviewer_cannot_reach_anothers_choices(review_dir, server):
    alice = ReviewerClient(server, _invite(review_dir, "Alice"))
    bob = ReviewerClient(server, _invite(review_dir, "Bob"))
    for choice in ("left", "right", "both_good"):
        assert alice.choose(choice)[0] == 200
    # Bob sees only his own state, and what he is served names no source or reviewer
    assert bob.state() == {"n_pairs": 10, "n_done": 0, "position": 1, "last": None}
    for position in range(1, 11):
        status, item = bob.get(f"/api/item/{position}")
        text = json.dumps(item)
        assert status == 200 and set(item) == {"position", "width", "height", "image",
                                                "outlines"}
        for secret in ("left_source", "model", "crowd", "Alice", "masks.fits", "votes"):
            assert secret not in text
    for position in (0, 11, 99, -1):
        assert bob.get(f"/api/item/{position}")[0] == 404
        assert server.request("GET", f"/img/{position}.png", token=bob.token)[0] == 404
    # undoing or overwriting at Alice's positions touches only Bob's own (empty) record
    for position in (1, 2, 3):
        assert bob.undo(position)[0] == 409
        assert bob.post("/api/choice", {"position": position + 1, "choice": "both_bad"}
                        )[0] == 409
    assert bob.post("/api/choice", {"position": 1, "choice": "both_bad", "reviewer": 1,
                                    "reviewer_id": 1})[0] == 200
    rows = ReviewStore(review_dir).choices()
    assert [(r["reviewer"], r["choice"]) for r in rows] == [
        ("Alice", "left"), ("Alice", "right"), ("Alice", "both_good"), ("Bob", "both_bad")]


def test_two_reviewers_at_once_lose_and_cross_nothing(review_dir, server):
    clients = [ReviewerClient(server, _invite(review_dir, name)) for name in ("Ann", "Ben")]
    made: dict[str, list[str]] = {"Ann": [], "Ben": []}
    errors: list[str] = []

    def review(name: str, client: ReviewerClient, seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for position in range(1, 11):
                choice = str(rng.choice(CHOICES))
                status, state = client.choose(choice, position)
                assert status == 200, state
                if position in (4, 7):  # change their mind once in a while
                    assert client.undo(position)[0] == 200
                    choice = str(rng.choice(CHOICES))
                    assert client.choose(choice, position)[0] == 200
                made[name].append(choice)
        except AssertionError as error:  # pragma: no cover - reported below
            errors.append(f"{name}: {error}")

    threads = [threading.Thread(target=review, args=(name, client, k))
               for k, (name, client) in enumerate(zip(made, clients, strict=True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    rows = ReviewStore(review_dir).choices()
    for name, client in zip(made, clients, strict=True):
        assert [r["choice"] for r in rows if r["reviewer"] == name] == made[name]
        assert client.state()["n_done"] == 10 and client.state()["position"] is None
    assert len(ReviewStore(review_dir).choices(include_undone=True)) == 24


def test_a_killed_server_loses_nothing(review_dir):
    token = _invite(review_dir, "Alice")
    server = ReviewServer(review_dir).start()
    try:
        client = ReviewerClient(server, token)
        sent = ["left", "both_bad", "right", "left", "both_good"]
        for choice in sent:
            assert client.choose(choice)[0] == 200
        assert client.undo()[0] == 200
        before = client.state()
        server.kill9()
        server.start()
        client = ReviewerClient(server, token)
        assert client.state() == before
        assert [r["choice"] for r in ReviewStore(review_dir).choices()] == sent[:-1]
        assert client.choose("right")[0] == 200
    finally:
        server.stop()
    db = sqlite3.connect(review_dir / "review.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


# ------------------------------------------------------------------ the report
def test_fleiss_kappa_of_the_textbook_example():
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                       [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                       [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(np.array([[3, 0], [0, 3]])) == pytest.approx(1.0)
    assert np.isnan(fleiss_kappa(np.array([[3, 0], [3, 0]])))  # one category: undefined
    assert np.isnan(fleiss_kappa(np.array([[1, 0]])))  # one rater


def test_outcome_maps_the_screen_to_the_sources():
    assert outcome("left", "a") == "a_better" and outcome("left", "b") == "b_better"
    assert outcome("right", "a") == "b_better" and outcome("right", "b") == "a_better"
    assert outcome("both_bad", "b") == "both_bad"
    for left in "ab":
        for name in ("a_better", "b_better", "both_good", "both_bad"):
            assert outcome(choice_for(name, left), left) == name


def test_report_counts_intervals_p_values_and_agreement(review_dir, tmp_path, capsys):
    store = ReviewStore(review_dir)
    left = {p["name"]: p["left_source"] for p in store.pairs()}
    reviewers = [store.reviewer_for_token(store.add_reviewer(n)) for n in ("R1", "R2", "R3")]
    rng = np.random.default_rng(1)
    name_of = {p["image_file"]: p["name"] for p in store.pairs()}
    expected = {"a_better": 0, "b_better": 0, "both_good": 0, "both_bad": 0}
    for reviewer in reviewers:
        for position in range(1, 11):
            shown_left = left[name_of[store.item(reviewer, position)["image_file"]]]
            # mostly prefer source A, on whichever side it is shown
            wanted = str(rng.choice(list(expected), p=[0.6, 0.15, 0.15, 0.1]))
            store.record_choice(reviewer, position, choice_for(wanted, shown_left))
            expected[wanted] += 1
    report = review_report(review_dir)
    assert len(report.choices) == 30
    shares = report.outcome_shares()
    assert {k: v.count for k, v in shares.items()} == expected
    a, b = report.preference()
    decisive = expected["a_better"] + expected["b_better"]
    assert (a.count, a.out_of, b.count) == (expected["a_better"], decisive, expected["b_better"])
    reference = stats.binomtest(expected["a_better"], decisive)
    assert a.p_value == pytest.approx(reference.pvalue)
    ci = reference.proportion_ci(method="exact")
    assert a.interval == pytest.approx((ci.low, ci.high))
    kappa, low, high, n_items = report.kappa
    assert n_items == 10 and low <= kappa <= high

    assert main(["review", "report", str(review_dir), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert f"model preferred over crowd in {expected['a_better']} of {decisive}" in out
    summary = Table.read(tmp_path / "rep" / "summary.ecsv")
    row = summary[(summary["scope"] == "all") & (summary["source"] == "model")][0]
    assert (row["count"], row["out_of"]) == (expected["a_better"], decisive)
    assert summary.meta["fleiss_kappa"] == pytest.approx(kappa)
    assert set(np.ma.filled(summary["reviewer"], "")) == {"", "R1", "R2", "R3"}
    choices = Table.read(tmp_path / "rep" / "choices.csv", format="ascii.csv")
    assert len(choices) == 30
    assert set(np.ma.filled(choices["preferred"], "")) <= {"model", "crowd", ""}
    assert (tmp_path / "rep" / "report.png").stat().st_size > 10_000


def test_report_of_a_review_without_choices(review_dir, tmp_path, capsys):
    assert main(["review", "report", str(review_dir), "--out", str(tmp_path / "rep")]) == 0
    assert "no choices yet" in capsys.readouterr().out
    assert (tmp_path / "rep" / "report.png").is_file()


# ------------------------------------------------------------------ the commands
def test_cli_prepare_invite_and_errors(review_sources, tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["review", "prepare", str(review_sources["model"]), str(review_sources["crowd"]),
            "--images", str(review_sources["images"]), "--out", str(out), "--feature", "bar",
            "--threshold", "2", "--keep-identical", "--n", "6", "--seed", "4"]
    assert main(argv) == 0
    assert "6 pairs of bar masks at >= 2 votes (segment vs labels)" in capsys.readouterr().err
    assert main(argv) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["review", "invite", str(out), "Dr. Who", "--host", "review.example.org",
                 "--port", "9000"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://review.example.org:9000/r/")
    token = link.rsplit("/", 1)[1]
    assert ReviewStore(out).reviewer_for_token(token).name == "Dr. Who"
    assert main(["review", "invite", str(out), "Dr. Who"]) == 1
    assert main(["review", "invite", str(out), "Dr. Who", "--new-link", "--url",
                 "https://r.example.org/"]) == 0
    assert capsys.readouterr().out.startswith("https://r.example.org/r/")
    assert ReviewStore(out).reviewer_for_token(token) is None
    assert main(["review", "invite", str(tmp_path / "nothing"), "X"]) == 1
    assert "galseg review prepare" in capsys.readouterr().err

"""The scene simulator: determinism, label rules, physics and noise, CLI and source."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from heatcast.errors import UsageError
from heatcast.firmware.cli import main
from heatcast.sensor import open_source
from heatcast.sensor.sim import Simulator, demo_scene, random_scene, write_traces
from heatcast.sensor.sim_body import LYING, SITTING, STANDING, Appearance
from heatcast.sensor.sim_scene import Drift, Key, Room, Scene, SensorModel, Visit, toward_screen
from heatcast.sensor.trace import TraceReader


def take(sim: Simulator, n: int):
    return list(itertools.islice(sim.records(), n))


def quiet_sensor(**kw) -> SensorModel:
    base = dict(noise_c=0.0, common_noise_c=0.0, fpn_c=0.0, vignette_c=0.0, gain=1.0, offset_c=0.0)
    base.update(kw)
    return SensorModel(**base)  # type: ignore[arg-type]


def still_person(x: float, y: float, yaw: float, posture: int = STANDING, **kw) -> Visit:
    a = Appearance(**kw)
    return Visit(a, (Key(-1.0, x, y, yaw, posture), Key(1e6, x, y, yaw, posture)))


def bare_room(**kw) -> Room:
    base = dict(height_m=1.5, tilt_deg=0.0, depth_m=8.0, left_m=5.0, right_m=5.0, ceiling_m=3.0,
                ambient_c=22.0, gradient_c_per_m=0.0, floor_delta_c=0.0, texture_c=0.0)  # fmt: skip
    base.update(kw)
    return Room(**base)  # type: ignore[arg-type]


def render(scene: Scene) -> np.ndarray:
    """One noiseless frame of scene temperature, as the optics see it."""
    sim = Simulator(1, 10.0, scene)
    visits = [v for v in scene.visits if v.pose(0.0) is not None]
    temps, _ = sim.render(0.0, visits)
    return temps.reshape(8, 8)


def test_same_seed_same_frames_and_labels() -> None:
    a = take(Simulator(seed=5), 300)
    b = take(Simulator(seed=5), 300)
    c = take(Simulator(seed=6), 300)
    assert all(x.frame == y.frame and x.labels == y.labels for x, y in zip(a, b, strict=True))
    assert any(x.frame != y.frame for x, y in zip(a, c, strict=True))


def test_random_scene_is_deterministic_and_varied() -> None:
    s1 = random_scene(np.random.default_rng(3))
    s2 = random_scene(np.random.default_rng(3))
    assert s1.describe() == s2.describe()
    mounts = {random_scene(np.random.default_rng(i)).room.mount for i in range(60)}
    assert mounts == {"wall", "ceiling"}
    with pytest.raises(UsageError, match="unknown scene setting"):
        random_scene(np.random.default_rng(1), colour="red")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_labels_follow_the_trace_rules(seed: int) -> None:
    sim = Simulator(seed=seed, scene=random_scene(np.random.default_rng(seed), rate_per_min=6.0))
    counts = set()
    for r in take(sim, 3000):
        lab = r.labels
        assert lab.count is not None and lab.count >= 0
        assert lab.presence == (lab.count > 0)
        assert (lab.posture is None) == (lab.count == 0)
        assert (lab.orientation is None) == (lab.count == 0)
        counts.add(lab.count)
        px = r.frame.pixels
        assert px.shape == (8, 8) and px.dtype == np.float32
        assert np.all(np.mod(px, 0.25) == 0)
        assert r.frame.thermistor is not None and (r.frame.thermistor / 0.0625).is_integer()
    assert len(counts) > 1


def test_empty_room_reads_near_ambient() -> None:
    for seed in range(5):
        scene = random_scene(np.random.default_rng(seed), rate_per_min=1e-6, initial_people=0, no_things=True)
        frames = take(Simulator(seed, scene=scene), 20)
        amb = scene.room.ambient_c
        for r in frames:
            assert r.labels.count == 0
            assert np.all(np.abs(r.frame.pixels - amb) < 6.0), (amb, r.frame.pixels)
            assert 0.5 < r.frame.thermistor - amb < 6.0


def test_near_person_covers_many_pixels_far_person_few() -> None:
    room = bare_room()
    empty = render(Scene(room=room, sensor=quiet_sensor()))
    near = render(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0, 1.0, math.pi),)))
    far = render(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0, 5.0, math.pi),)))
    near_d = near - empty
    far_d = far - empty
    assert (near_d > 2.0).sum() >= 12
    assert 5.0 <= near_d.max() <= 12.0
    assert (far_d > 1.0).sum() <= 4
    assert 0.5 <= far_d.max() <= 5.0


def _blob_extent(diff: np.ndarray, share: float = 0.35) -> tuple[int, int]:
    """Rows and columns spanned by pixels warmer than ``share`` of the peak."""
    rows, cols = np.nonzero(diff > share * diff.max())
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_standing_blob_is_tall_lying_blob_is_wide() -> None:
    room = bare_room(height_m=2.2, tilt_deg=20.0)
    empty = render(Scene(room=room, sensor=quiet_sensor()))
    stand = render(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0, 3.0, math.pi),)))
    lie = render(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0, 3.0, math.pi / 2, LYING),)))
    h, w = _blob_extent(stand - empty)
    assert h > w
    h, w = _blob_extent(lie - empty)
    assert w > h


def test_facing_head_is_warmer_than_away() -> None:
    # the sensor at head height: the head fills the middle rows
    room = bare_room(height_m=1.64)
    sensor = quiet_sensor()
    x = 0.1
    face = render(Scene(room=room, sensor=sensor, visits=(still_person(x, 1.2, toward_screen(x, 1.2)),)))
    away = render(
        Scene(room=room, sensor=sensor, visits=(still_person(x, 1.2, toward_screen(x, 1.2) + math.pi),))
    )
    assert face[2:5].max() > away[2:5].max() + 0.7
    # below the head, clothing looks the same from the front and the back
    assert abs(face[6:].max() - away[6:].max()) < 0.5


def test_sitting_label_and_lower_blob() -> None:
    room = bare_room(height_m=2.0, tilt_deg=15.0)
    s = Simulator(
        1, 10.0, Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0, 2.5, math.pi, SITTING),))
    )
    r = next(s.records())
    assert r.labels.posture == "sitting" and r.labels.orientation == "facing" and r.labels.count == 1


def test_temporal_noise_matches_the_datasheet() -> None:
    room = bare_room()
    for fps, sigma in ((10.0, 0.15), (1.0, 0.15 / math.sqrt(10))):
        scene = Scene(room=room, drift=Drift(), sensor=quiet_sensor(noise_c=0.15))
        px = np.array([r.frame.pixels for r in take(Simulator(2, fps, scene), 600)])
        # the expected spread after 0.25 C rounding, per pixel, from the rendered mean
        truth = render(scene).ravel()
        rng = np.random.default_rng(0)
        sim = np.round((truth[None, :] + rng.normal(0, sigma, (20000, 64))) / 0.25) * 0.25
        expect = sim.std(axis=0).mean()
        got = px.reshape(len(px), 64).std(axis=0).mean()
        assert got == pytest.approx(expect, rel=0.12), (fps, got, expect)
        assert np.all(np.mod(px, 0.25) == 0)


def test_moving_average_mode_halves_the_noise_power() -> None:
    scene = Scene(room=bare_room(), drift=Drift(), sensor=quiet_sensor(noise_c=0.2, moving_average=True))
    px = np.array([r.frame.pixels for r in take(Simulator(4, 10.0, scene), 600)]).reshape(600, 64)
    truth = render(scene).ravel()
    rng = np.random.default_rng(1)
    raw = truth[None, :] + rng.normal(0, 0.2, (20001, 64))
    expect = (np.round(0.5 * (raw[1:] + raw[:-1]) / 0.25) * 0.25).std(axis=0).mean()
    assert px.std(axis=0).mean() == pytest.approx(expect, rel=0.12)
    # consecutive frames share half their noise
    d = px - px.mean(axis=0)
    lag1 = float((d[1:] * d[:-1]).mean() / (d * d).mean())
    assert 0.3 < lag1 < 0.7


def test_demo_scene_tells_the_story_and_loops() -> None:
    scene = demo_scene()
    assert scene.loop_s is not None and 120 <= scene.loop_s <= 180
    sim = Simulator(1, 2.0, scene)
    recs = take(sim, int(scene.loop_s * 2) + 20)
    counts = [r.labels.count for r in recs]
    assert counts[0] == 0
    assert max(counts) >= 3
    assert "side" in {r.labels.orientation for r in recs}
    assert "sitting" in {r.labels.posture for r in recs}
    facing = [r.labels.orientation == "facing" and r.labels.count == 1 for r in recs]
    longest = max(len(list(g)) for k, g in itertools.groupby(facing) if k)
    assert longest / 2.0 > 5.0
    n = int(scene.loop_s * 2)
    assert recs[n].labels == recs[0].labels and recs[n + 10].labels == recs[10].labels


def test_write_traces_and_read_back(tmp_path: Path) -> None:
    paths = write_traces(tmp_path, 2, 3.0, seed=4, fps=10)
    assert [p.name for p in paths] == ["sim-0001.csv.gz", "sim-0002.csv.gz"]
    for p in paths:
        with TraceReader(p) as tr:
            assert tr.meta["site"] == "simulator" and tr.meta["fps"] == "10"
            assert tr.meta["mount"] in ("wall", "ceiling") and "seed=4" in tr.meta["source"]
            float(tr.meta["height_m"]), float(tr.meta["tilt_deg"])
            recs = list(tr)
        assert len(recs) == 30
        assert all(r.labels.count is not None for r in recs)


def test_cli_writes_traces(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder"
    result = CliRunner().invoke(main, ["sim", "--out", str(out), "--traces", "2", "--seconds", "2",
                                       "--seed", "3", "--fps", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["sim-0001.csv.gz", "sim-0002.csv.gz"]
    with TraceReader(files[0]) as tr:
        assert tr.meta["fps"] == "1" and len(list(tr)) == 2
    # the same seed writes the same traces; the CLI and write_traces agree
    again = write_traces(tmp_path / "again", 2, 2.0, seed=3, fps=1)
    for a, b in zip(files, again, strict=True):
        with TraceReader(a) as ra, TraceReader(b) as rb:
            assert [r.frame for r in ra] == [r.frame for r in rb]


def test_cli_envelope_writes_wall_mounts_inside_the_billboard_envelope(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sim", "--out", str(tmp_path), "--traces", "6", "--seconds", "1",
                                       "--seed", "8", "--envelope"])  # fmt: skip
    assert result.exit_code == 0, result.output
    heights = []
    for path in sorted(tmp_path.iterdir()):
        with TraceReader(path) as tr:
            assert tr.meta["mount"] == "wall"
            heights.append(float(tr.meta["height_m"]))
            assert 1.0 <= heights[-1] <= 2.2 and 0.0 <= float(tr.meta["tilt_deg"]) <= 30.0
    assert len(set(heights)) == 6  # each scene its own placement


def test_cli_refuses_an_output_path_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(
        main, ["sim", "--out", str(blocker / "sub"), "--traces", "1", "--seconds", "1"]
    )
    assert result.exit_code == 2
    assert "cannot create the output folder" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--traces", "0"],
        ["--seconds", "-1"],
        ["--fps", "0"],
        ["--seed", "-3"],
    ],
)
def test_cli_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from heatcast.firmware.cli import main; main()", "sim",
         "--out", str(tmp_path / "o"), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert args[0] in lines[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_sim_source_through_open_source() -> None:
    src = open_source("sim:?seed=2&speed=0&scene=random")
    frames = list(itertools.islice(iter(src), 5))
    src.close()
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
    assert frames[1].t == pytest.approx(0.1)
    src = open_source("sim:?fps=1&speed=0")
    f = next(iter(src))
    src.close()
    assert f.pixels.shape == (8, 8)


@pytest.mark.parametrize(
    "text",
    ["sim:?scene=moon", "sim:?fps=0", "sim:?fps=abc", "sim:?speed=-1", "sim:?seed=1.5", "sim:?colour=red"],
)
def test_bad_sim_source_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        open_source(text)


def test_realtime_pacing() -> None:
    import time

    src = open_source("sim:?fps=20&speed=1")
    it = iter(src)
    next(it)
    t0 = time.monotonic()
    for _ in range(4):
        next(it)
    src.close()
    assert time.monotonic() - t0 >= 0.15


def labels_at(scene: Scene, t: float = 0.0):
    sim = Simulator(1, 10.0, scene)
    visits = [v for v in scene.visits if v.pose(t) is not None]
    return sim.render(t, visits)[1]


def test_nearer_person_hides_one_behind() -> None:
    room = bare_room(height_m=1.0)
    near = still_person(0.0, 1.5, math.pi)
    far = still_person(0.0, 3.5, math.pi)
    aside = still_person(1.2, 3.5, math.pi)
    assert labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(near, far))).count == 1
    assert labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(near, aside))).count == 2
    # the primary is the nearest: facing; the one behind faces away
    back = still_person(1.2, 3.5, 0.0)
    lab = labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(back, near)))
    assert lab.count == 2 and lab.orientation == "facing"


def test_count_needs_half_a_pixel_in_view() -> None:
    room = bare_room(height_m=1.6)
    # 3 m away the field is +-1.73 m wide: a person at 1.5 m is in, at 2.4 m is out
    assert (
        labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(1.5, 3.0, math.pi),))).count
        == 1
    )
    assert (
        labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(2.4, 3.0, math.pi),))).count
        == 0
    )


def test_side_and_away_labels() -> None:
    room = bare_room()
    x, y = 0.5, 2.5
    face = toward_screen(x, y)
    for yaw, want in (
        (face, "facing"),
        (face + 1.57, "side"),
        (face - 1.57, "side"),
        (face + math.pi, "away"),
    ):
        lab = labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(x, y, yaw),)))
        assert lab.orientation == want and lab.posture == "standing"


def test_ceiling_mount_sees_people_below() -> None:
    room = bare_room(height_m=2.9, tilt_deg=90.0, sensor_y_m=2.0, ceiling_m=2.93)
    lab = labels_at(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0.2, 2.0, math.pi),)))
    assert lab.count == 1
    empty = render(Scene(room=room, sensor=quiet_sensor()))
    img = render(Scene(room=room, sensor=quiet_sensor(), visits=(still_person(0.2, 2.0, math.pi),)))
    assert (img - empty).max() > 1.5


def test_still_person_stays_labelled_for_minutes() -> None:
    scene = Scene(room=bare_room(), sensor=SensorModel(), visits=(still_person(0.3, 2.0, math.pi),))
    recs = list(itertools.islice(Simulator(3, 1.0, scene).records(), 300))
    assert all(r.labels.count == 1 and r.labels.orientation == "facing" for r in recs)
    means = [float(r.frame.pixels.mean()) for r in recs]
    assert max(means) - min(means) < 0.3


@pytest.mark.parametrize("posture", [STANDING, SITTING, LYING])
def test_nobody_holds_perfectly_still(posture: int) -> None:
    visit = still_person(0.3, 2.0, math.pi, posture)
    poses = [visit.pose(t) for t in np.arange(0.0, 60.0, 0.5)]
    xs = np.array([p.x for p in poses if p is not None])
    ys = np.array([p.y for p in poses if p is not None])
    yaws = np.array([p.yaw for p in poses if p is not None])
    wander = np.hypot(xs - 0.3, ys - 2.0)
    assert 0.01 < wander.max() < 0.15  # sway and shifts of weight: centimetres, never a step
    assert 0.02 < np.ptp(yaws) < 0.8  # glances aside, not turns
    again = [visit.pose(t) for t in np.arange(0.0, 60.0, 0.5)]
    assert [p.x for p in again if p is not None] == xs.tolist()  # reproducible


def test_a_still_person_shows_against_an_empty_room() -> None:
    """The sway is what tells someone there since the cold start from a warm thing."""

    def wander(visits: tuple[Visit, ...]) -> float:
        scene = Scene(room=bare_room(), sensor=quiet_sensor(noise_c=0.15), visits=visits)
        px = np.stack([r.frame.pixels for r in itertools.islice(Simulator(4, 10.0, scene).records(), 600)])
        blocks = px.reshape(-1, 8, 8, 8).mean(axis=1)
        return float(blocks.std(axis=0).max())

    assert wander((still_person(0.2, 1.6, math.pi, SITTING),)) > 2 * wander(())


def test_hot_objects_raise_pixels_but_not_the_count() -> None:
    from heatcast.sensor.sim_render import Box
    from heatcast.sensor.sim_scene import Thing

    room = bare_room(things=(Thing("radiator", Box((-0.6, 7.85, 0.8), (0.6, 7.95, 1.6)), 55.0),))
    lab = labels_at(Scene(room=room, sensor=quiet_sensor()))
    assert lab.count == 0
    img = render(Scene(room=room, sensor=quiet_sensor()))
    assert img.max() > 24.0


def test_warmup_and_self_heating_move_the_thermistor() -> None:
    scene = Scene(room=bare_room(), sensor=SensorModel(self_heating_c=4.0, warmup_s=60.0))
    recs = list(itertools.islice(Simulator(1, 1.0, scene).records(), 400))
    assert recs[0].frame.thermistor == pytest.approx(22.0, abs=0.2)
    assert recs[-1].frame.thermistor == pytest.approx(26.0, abs=0.2)


def test_a_seat_stays_warm_after_the_sitter_leaves() -> None:
    from heatcast.sensor.sim_scene import Script

    s = Script(0.0, -3.0, 1.8, 0.0)
    s.walk(0.0, 1.8, 1.0).turn(toward_screen(0.0, 1.8)).posture(SITTING, 1.5, seat_z=0.45)
    s.wait(900.0).posture(STANDING, 1.5).walk(3.5, 1.8, 1.0)
    visit = s.build(Appearance())
    assert visit.residues and visit.until > visit.end
    room = bare_room(height_m=2.0, tilt_deg=25.0)
    scene = Scene(room=room, sensor=quiet_sensor(), visits=(visit,))
    sim = Simulator(1, 10.0, scene)
    empty, _ = sim.render(0.0, [])
    gone = visit.end + 5.0
    warm, lab = sim.render(gone, [visit])
    assert lab.count == 0
    assert (warm - empty).max() > 0.5
    cold, _ = sim.render(gone + 1800.0, [visit])
    assert (cold - empty).max() < 0.05


def test_switching_things_ramp_between_off_and_on() -> None:
    from heatcast.sensor.sim_render import Box
    from heatcast.sensor.sim_scene import Thing

    rad = Thing(
        "radiator", Box((0, 0, 0), (1, 1, 1)), 50.0, period_s=1000.0, duty=0.5, off_delta_c=1.0, ramp_s=100.0
    )
    assert rad.temperature(0.0, 20.0) == pytest.approx(21.0)
    assert rad.temperature(50.0, 20.0) == pytest.approx(35.5)
    assert rad.temperature(300.0, 20.0) == pytest.approx(50.0)
    assert rad.temperature(550.0, 20.0) == pytest.approx(35.5)
    assert rad.temperature(800.0, 20.0) == pytest.approx(21.0)
    cup = Thing("cup", Box((0, 0, 0), (1, 1, 1)), 60.0, cool_tau_s=600.0)
    assert cup.temperature(600.0, 20.0) == pytest.approx(20.0 + 40.0 / math.e)


def test_a_table_hides_the_legs_of_someone_sitting_behind_it() -> None:
    from heatcast.sensor.sim_render import Box
    from heatcast.sensor.sim_scene import Thing

    table = Thing("table", Box((-0.6, 2.2, 0.0), (0.6, 2.9, 0.75)), 0.0, relative=True)
    sitter = (still_person(0.0, 3.25, math.pi, SITTING),)
    open_room = bare_room(height_m=1.2, tilt_deg=0.0)
    cafe = bare_room(height_m=1.2, tilt_deg=0.0, things=(table,))
    seen = render(Scene(room=open_room, sensor=quiet_sensor(), visits=sitter)) - render(
        Scene(room=open_room, sensor=quiet_sensor())
    )
    hidden = render(Scene(room=cafe, sensor=quiet_sensor(), visits=sitter)) - render(
        Scene(room=cafe, sensor=quiet_sensor())
    )
    # the table's top edge is at row 5: below it the table is in the way
    assert seen[6:].max() > 0.8 and hidden[6:].max() < 0.3 * seen[6:].max()
    assert hidden[:5].max() > 1.5
    assert labels_at(Scene(room=cafe, sensor=quiet_sensor(), visits=sitter)).count == 1


def _reference_render(scene: Scene, t: float, rays_per_px: int = 16) -> np.ndarray:
    """Brute force: many hard rays per pixel, exact ray-ellipsoid hits, nearest wins."""
    from heatcast.sensor.sim_body import Skeletons, bodies
    from heatcast.sensor.sim_render import FIELD, MARGIN, PIXEL_RAD, blur_matrix, camera_basis, to_radiance

    room = scene.room
    sensor = np.array(room.sensor)
    items = []
    for v in scene.visits:
        pose = v.pose(t)
        if pose is not None:
            items.append((v.appearance, pose, t - v.start))
    body = bodies(items, np.full(len(items), room.ambient_c), sensor, Skeletons())
    has = body.present.ravel()
    centers = body.centers.reshape(-1, 3)[has]
    axes = body.axes.reshape(-1, 3, 3)[has]
    radii = body.radii.reshape(-1, 3)[has]
    rad = to_radiance(body.temps.ravel()[has])
    n = FIELD * rays_per_px
    idx = (np.arange(n) + 0.5) / rays_per_px - MARGIN - 4
    ax = idx[None, :] * PIXEL_RAD
    ay = -idx[:, None] * PIXEL_RAD
    d_cam = np.stack(np.broadcast_arrays(np.sin(ax) * np.cos(ay), np.cos(ax) * np.cos(ay), np.sin(ay)), -1)
    d = d_cam.reshape(-1, 3) @ camera_basis(room.tilt_deg)
    best = np.full(len(d), np.inf)
    value = np.full(len(d), float(to_radiance(room.ambient_c)))
    for c, r_axes, r, q in zip(centers, axes, radii, rad, strict=True):
        a_mat = r_axes @ np.diag(1 / r**2) @ r_axes.T
        rel = c - sensor
        qa = np.einsum("ni,ij,nj->n", d, a_mat, d)
        qb = d @ (a_mat @ rel)
        qc = rel @ a_mat @ rel - 1.0
        disc = qb * qb - qa * qc
        hit_t = (qb - np.sqrt(np.maximum(disc, 0))) / qa
        hit = (disc >= 0) & (hit_t > 0) & (hit_t < best)
        best = np.where(hit, hit_t, best)
        value = np.where(hit, q, value)
    per_px = value.reshape(FIELD, rays_per_px, FIELD, rays_per_px).mean(axis=(1, 3)).ravel()
    r4 = blur_matrix(scene.sensor.psf_sigma_px) @ per_px
    return np.asarray(300.0 * r4**0.25 - 273.15).reshape(8, 8)


@pytest.mark.parametrize("case", range(4))
def test_fast_renderer_matches_brute_force_ray_casting(case: int) -> None:
    from heatcast.sensor.sim_scene import Script

    rng = np.random.default_rng(case)
    room = bare_room(height_m=float(rng.uniform(1.0, 2.4)), tilt_deg=float(rng.uniform(0, 30)))
    visits = []
    for i in range(3):
        x, y = float(rng.uniform(-1.5, 1.5)), float(rng.uniform(1.0, 4.5))
        s = Script(0.0, x, y, float(rng.uniform(-3, 3)))
        if i == 1:
            s.posture(SITTING, 1.0, seat_z=0.45)
        if i == 2 and case % 2:
            s.posture(LYING, 1.0, seat_z=0.0, roll=1.4)
        s.walk(x + 1.0, y, 1.0).wait(5.0)
        visits.append(s.build(Appearance(height_m=float(rng.uniform(1.5, 1.9)), backpack=i == 0)))
    scene = Scene(room=room, sensor=quiet_sensor(), visits=tuple(visits))
    for t in (1.5, 2.3):
        fast = render_at(scene, t)
        ref = _reference_render(scene, t)
        # within the sensor's own noise and 0.25 C step; the rest is where two soft
        # edges cross (the compositing keeps one coverage number per ray sample)
        assert np.abs(fast - ref).max() < 0.2, np.abs(fast - ref).max()
        assert np.abs(fast - ref).mean() < 0.02


def render_at(scene: Scene, t: float) -> np.ndarray:
    sim = Simulator(1, 10.0, scene)
    visits = [v for v in scene.visits if v.pose(t) is not None]
    return sim.render(t, visits)[0].reshape(8, 8)


def test_a_backpack_cools_the_back_but_not_the_front() -> None:
    room = bare_room(height_m=1.4)
    x, y = 0.0, 1.5
    face = toward_screen(x, y)

    def body(yaw: float, backpack: bool) -> np.ndarray:
        return render(
            Scene(room=room, sensor=quiet_sensor(), visits=(still_person(x, y, yaw, backpack=backpack),))
        )

    back = body(face + math.pi, True) - body(face + math.pi, False)
    front = body(face, True) - body(face, False)
    assert back.min() < -1.0
    assert np.abs(front).max() < 0.1


def test_sim_version_ignores_comments_and_docstrings_but_not_code(tmp_path: Path) -> None:
    from heatcast.sensor import sim

    here = Path(sim.__file__).resolve().parent
    for name in sim.SOURCES:
        (tmp_path / name).write_text((here / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert sim._version(tmp_path) == sim.SIM_VERSION

    scene = tmp_path / "sim_scene.py"
    original = scene.read_text(encoding="utf-8")
    reworded = original.replace('"""', '"""Reworded. ', 1) + "\n# a closing comment\n"
    scene.write_text(reworded, encoding="utf-8")
    assert sim._version(tmp_path) == sim.SIM_VERSION

    scene.write_text(original + "\nX = 1\n", encoding="utf-8")
    assert sim._version(tmp_path) != sim.SIM_VERSION

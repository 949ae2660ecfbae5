"""A physically grounded AMG8833 scene simulator that knows the truth.

It renders a room (walls, floor and ceiling with a vertical temperature
gradient, radiators, screens, lamps, windows, slow air drift) and people built
from body parts (skin, hair and clothing temperatures; standing, sitting or
lying; facing, side-on or away) through the sensor's optics (60 degree field,
8x8 pixels, supersampled coverage, Gaussian blur) and electronics (fixed
per-pixel offsets, temporal noise, 0.25 C steps, a thermistor), and labels every
frame with what was really there.

Used three ways:

* ``open_source("sim:?seed=1&scene=demo&speed=1")`` - a live source; ``scene=demo``
  (the default) loops a scripted 150 s show, ``scene=random`` makes up a room
  and an endless crowd from the seed. ``speed=1`` paces in real time, ``speed=0``
  runs as fast as it can;
* :class:`Simulator` - frames (``iter``) or labelled records (:meth:`Simulator.records`);
* :func:`write_traces` / ``heatcast sim`` - labelled training traces.

Labels: ``count`` is the number of people of whom at least ``VISIBLE_PX`` pixels'
worth (0.5 of a pixel's area, after occlusion by nearer people and furniture)
lies inside the 8x8 field of view. The primary person is the counted person
nearest to the sensor; ``orientation`` compares the way their chest faces with
the direction to the billboard (the sensor's wall): within 45 degrees is
``facing``, beyond 135 ``away``, otherwise ``side`` (a person lying on their back,
chest up, is ``side``).

Physics, in the order light takes (details in the helper modules):

* the room (``sim_scene``, rendered here): walls, floor and ceiling at ambient
  plus a vertical gradient, per-wall offsets and smooth unevenness; things
  (radiators, screens, lamps, windows, cups, heaters, tables, sunlit floor
  patches) as boxes, some switching on and off over a ramp, cups cooling; the
  air drifts slowly (and with an HVAC saw-tooth in some rooms) and the walls
  follow part of it. Seats and floors stay warm for minutes after someone sat
  or lay there (drawn, never counted).
* people (``sim_body``): 13 ellipsoids per person (head, two torso parts, upper
  and lower arms, hands, thighs, shins) posed by a skeleton for standing
  (with a walking gait), sitting and lying, blended through transitions;
  face skin, hair, clothing and bare-skin temperatures per person.
* optics (``sim_render``): each pixel is 7.5 degrees (equal-angle lens), sampled
  by 4x4 rays; each ellipsoid's silhouette is an exact conic with a soft
  one-sample edge, nearer surfaces hide farther ones, and surfaces mix by
  radiance (T^4 in kelvin), not by temperature; then a Gaussian blur (sigma
  0.4..0.7 pixel), which also pulls in heat from just outside the field.
* the sensor: reading = board + gain x (scene - board) + offset + fixed
  per-pixel pattern + temporal noise, rounded to the register's 0.25 C steps
  and clamped to -20..80 C (the AMG8833's 0..80 C object range, with room
  below 0 for a frosty window). The datasheet gives a noise-equivalent
  temperature difference of about 0.05 C at 1 fps; we take that to come from
  averaging ten 10 fps readings (the simplest account of the sqrt(10) gap to
  the ~0.16 C usually quoted at 10 fps), so temporal noise here scales as
  sqrt(fps / 10), 0.1..0.25 C RMS at 10 fps across sensors, and a 1 fps frame
  is the radiance average of four moments across its second (movers blur). The thermistor is the board:
  ambient through a 10-minute lag plus 1..6 C of self-heating (an ESP32
  board runs hot), building up after power-on in some scenes; 0.0625 C steps.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from heatcast.errors import UsageError
from heatcast.sensor.closing import Closing
from heatcast.sensor.frame import F64, Frame
from heatcast.sensor.sim_body import POSTURE_NAMES, Appearance, Pose, Skeletons, bodies
from heatcast.sensor.sim_render import (
    FIELD,
    GRID,
    OUT_MAX_C,
    OUT_MIN_C,
    PIXEL_STEP_C,
    PIXELS,
    SUPER,
    THERM_MAX_C,
    THERM_MIN_C,
    THERM_STEP_C,
    Box,
    blur_matrix,
    camera_basis,
    composite,
    from_radiance,
    ray_boxes,
    to_radiance,
    world_rays,
)
from heatcast.sensor.sim_scene import (
    Crowd,
    Drift,
    People,
    Residue,
    Room,
    Scene,
    SensorModel,
    Visit,
    demo_scene,
    random_scene,
)
from heatcast.sensor.sources import SourceSpec
from heatcast.sensor.trace import Labels, TraceRecord, TraceWriter

__all__ = [
    "SIM_VERSION",
    "VISIBLE_PX",
    "Crowd",
    "Drift",
    "Room",
    "Scene",
    "SensorModel",
    "SimSource",
    "Simulator",
    "demo_scene",
    "open_sim",
    "random_scene",
    "write_trace",
    "write_traces",
]

log = logging.getLogger(__name__)


#: The simulator's own modules: what SIM_VERSION hashes.
SOURCES = ("sim.py", "sim_body.py", "sim_render.py", "sim_scene.py")


def _version(here: Path | None = None) -> str:
    """A short hash of the simulator's code: changes whenever its output may.

    Comments, docstrings and layout are left out, so that editing them does not
    invalidate caches of simulated data.
    """
    digest = hashlib.sha256()
    here = here or Path(__file__).resolve().parent
    for name in SOURCES:
        try:
            tree = ast.parse((here / name).read_bytes())
        except (OSError, SyntaxError):
            digest.update(name.encode())
            continue
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:12]


#: identifies what this simulator renders; key caches of simulated data on it
SIM_VERSION = _version()

#: a person counts as in view with at least this much of a pixel's area visible
VISIBLE_PX = 0.5
EMPTY = Labels(count=0, presence=False)
_COS45 = math.cos(math.radians(45.0))
#: frames rendered together (numpy works best on many at once)
_CHUNK = 32
_SUB_OFFSETS = ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25))


def _residue_ellipsoids(warm: list[tuple[int, Residue, float]]) -> tuple[F64, F64, F64, F64]:
    """Flat ellipsoids for warm patches: centres, axes, radii and temperatures."""
    n = len(warm)
    centers = np.array([(r.x, r.y, r.z) for _, r, _ in warm])
    yaw = np.array([r.yaw for _, r, _ in warm])
    c, s = np.cos(yaw), np.sin(yaw)
    axes = np.zeros((n, 3, 3))
    axes[:, 0, 0], axes[:, 1, 0] = c, -s  # across the body
    axes[:, 0, 1], axes[:, 1, 1] = s, c  # along it
    axes[:, 2, 2] = 1.0
    radii = np.array([(r.rx, r.ry, 0.015) for _, r, _ in warm])
    temps = np.array([temp for _, _, temp in warm])
    return centers, axes, radii, temps


class _Background:
    """The empty room as the sensor's rays see it; re-shaded when the air drifts."""

    def __init__(self, room: Room, seed: int) -> None:
        self.room = room
        origin = np.array(room.sensor, dtype=float)
        rng = np.random.default_rng([seed, 3])
        deltas = []
        things = []
        depths = []
        boxes: list[Box] = [t.box for t in room.things]
        waves = rng.normal(0.0, 1.0, (3, 3)) * 2.0
        phases = rng.uniform(0, 2 * math.pi, 3)
        for du, dv in _SUB_OFFSETS:
            rays = world_rays(room.tilt_deg, du / SUPER, dv / SUPER)
            t_room, delta = self._room_hits(origin, rays, waves, phases)
            t_obj, which = ray_boxes(origin, rays, boxes)
            obj = (which >= 0) & (t_obj < t_room)
            deltas.append(delta)
            things.append(np.where(obj, which, -1))
            depths.append(np.where(obj, t_obj, t_room))
        self.delta = np.stack(deltas)  # (4, G, G) offset from ambient where the room is hit
        self.thing = np.stack(things)  # (4, G, G) thing index or -1
        self.depth = np.max(np.stack(depths), axis=0)  # occluding distance per sample
        self.depth_flat = self.depth.ravel().copy()
        self.is_room = self.thing < 0
        self.thing_index = np.maximum(self.thing, 0)
        self._key: tuple[float, ...] | None = None
        self.radiance = np.zeros((GRID, GRID))

    def _room_hits(self, o: F64, d: F64, waves: F64, phases: F64) -> tuple[F64, F64]:
        r = self.room
        dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
        inf = np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            cands = [
                np.where(dz < 0, -o[2] / dz, inf),  # floor
                np.where(dz > 0, (r.ceiling_m - o[2]) / dz, inf),  # ceiling
                np.where(dy > 0, (r.depth_m - o[1]) / dy, inf),  # back wall
                np.where(dx < 0, (-r.left_m - o[0]) / dx, inf),  # left wall
                np.where(dx > 0, (r.right_m - o[0]) / dx, inf),  # right wall
                np.where(dy < 0, -o[1] / dy, inf),  # front wall
            ]
        stack = np.stack(cands)
        stack = np.where(stack > 1e-6, stack, inf)
        which = np.argmin(stack, axis=0)
        t = np.min(stack, axis=0)
        t = np.where(np.isfinite(t), t, 50.0)
        p = o + d * t[..., None]
        z = np.clip(p[..., 2], 0.0, r.ceiling_m)
        grad = r.gradient_c_per_m * r.surface_gradient_share * (z - 1.5)
        walls = np.array(r.wall_deltas_c)
        delta = np.select(
            [which == 0, which == 1, which == 2, which == 3, which == 4],
            [
                r.floor_delta_c + 0.3 * r.gradient_c_per_m * (0.0 - 1.5),
                grad + r.ceiling_delta_c,
                grad + walls[0],
                grad + walls[1],
                grad + walls[2],
            ],
            grad + walls[3],
        )
        texture = np.zeros_like(delta)
        for k in range(3):
            texture += np.sin(p @ waves[k] + phases[k])
        delta = delta + r.texture_c * texture / math.sqrt(1.5)
        return t, delta

    def update(self, t: float, surface_ambient: float) -> F64:
        temps = [th.temperature(t, surface_ambient) for th in self.room.things]
        key = (round(surface_ambient, 2), *(round(x, 2) for x in temps))
        if key != self._key:
            self._key = key
            thing_t = np.asarray([*temps, 0.0])
            sub = np.where(self.is_room, surface_ambient + self.delta, thing_t[self.thing_index])
            self.radiance = to_radiance(sub).mean(axis=0)
        return self.radiance


class Simulator(Closing):
    """Frames from a simulated AMG8833 looking at a scene.

    ``scene`` defaults to :func:`random_scene` made from ``seed``. Iterating
    yields :class:`Frame` values for ever; :meth:`records` yields them with their
    true :class:`Labels`. ``realtime`` paces frames at ``fps`` by the clock.
    """

    def __init__(
        self,
        seed: int = 1,
        fps: float = 10.0,
        scene: Scene | None = None,
        realtime: bool = False,
        speed: float = 1.0,
    ) -> None:
        try:
            rate = float(fps)
        except (TypeError, ValueError):
            rate = math.nan
        if not (math.isfinite(rate) and 0.1 <= rate <= 100):
            raise UsageError(
                f"fps={fps!r} is not valid; use a frame rate from 0.1 to 100 (the AMG8833 does 1 or 10)"
            )
        if not (math.isfinite(speed) and speed >= 0):
            raise UsageError(f"speed={speed!r} is not valid; use 0 (as fast as possible) or more")
        if int(seed) != seed or seed < 0:
            raise UsageError(f"seed={seed!r} is not valid; use a whole number, 0 or more")
        self.seed = int(seed)
        self.fps = rate
        self.scene = scene if scene is not None else random_scene(np.random.default_rng([self.seed, 11]))
        self.realtime = realtime
        self.speed = speed
        self._closed = False
        room = self.scene.room
        model = self.scene.sensor
        self._sensor_pos = np.array(room.sensor, dtype=float)
        self._basis = camera_basis(room.tilt_deg)
        self._bg = _Background(room, self.scene.seed)
        self._skeletons = Skeletons()
        self._blur = blur_matrix(model.psf_sigma_px)
        rng = np.random.default_rng([self.scene.seed, 5])
        idx = np.arange(PIXELS) - 3.5
        r2 = (idx[:, None] ** 2 + idx[None, :] ** 2) / (2 * 3.5**2)
        self._fpn = (
            rng.normal(0.0, model.fpn_c, (PIXELS, PIXELS)) + model.vignette_c * (r2 - r2.mean())
        ).ravel()
        self._noise = np.random.default_rng([self.seed, self.scene.seed, 9])
        self._sigma = model.noise_at(self.fps)
        self._last: F64 | None = None

    # -- rendering -------------------------------------------------------------
    def render(self, t: float, visits: list[Visit]) -> tuple[F64, Labels]:
        """One frame's scene temperatures (64,) before the sensor's own errors, and labels."""
        temps, labels = self._render_batch([t], [visits])
        return temps[0], labels[0]

    def _air(self, t: float) -> float:
        return self.scene.room.ambient_c + self.scene.drift.air(t)

    def _render_batch(self, times: list[float], visits: list[list[Visit]]) -> tuple[F64, list[Labels]]:
        """Scene temperatures (N, 64) and labels for N moments."""
        scene = self.scene
        amb0 = scene.room.ambient_c
        follow = scene.drift.surface_follow
        n = len(times)
        airs = [self._air(t) for t in times]
        bgs = np.stack(
            [self._bg.update(t, amb0 + follow * (a - amb0)) for t, a in zip(times, airs, strict=True)]
        )
        items: list[tuple[Appearance, Pose, float]] = []
        frame_of: list[int] = []
        warm: list[tuple[int, Residue, float]] = []
        for f, (t, vs) in enumerate(zip(times, visits, strict=True)):
            for v in vs:
                pose = v.pose(t)
                if pose is not None:
                    items.append((v.appearance, pose, t - v.start))
                    frame_of.append(f)
                for res in v.residues:
                    if res.t0 <= t <= res.t0 + 5 * res.tau_s:
                        warm.append((f, res, amb0 + follow * (airs[f] - amb0) + res.excess(t)))
        labels: list[Labels] = [EMPTY] * n
        if items or warm:
            m = len(items)
            fr = np.asarray(frame_of, dtype=np.int64)
            if items:
                body = bodies(items, np.asarray(airs)[fr], self._sensor_pos, self._skeletons)
                k = body.temps.shape[1]
                has = body.present.ravel()
                centers, axes = body.centers.reshape(m * k, 3)[has], body.axes.reshape(m * k, 3, 3)[has]
                radii, temps = body.radii.reshape(m * k, 3)[has], body.temps.ravel()[has]
                owner = np.repeat(np.arange(m), k)[has]
            else:
                centers, axes, radii, temps = (
                    np.empty((0, 3)),
                    np.empty((0, 3, 3)),
                    np.empty((0, 3)),
                    np.empty(0),
                )
                owner = np.empty(0, dtype=np.int64)
            frames = fr[owner]
            if warm:
                # warm patches are drawn like body parts but belong to nobody
                wc, wa, wr, wt = _residue_ellipsoids(warm)
                centers, axes = np.concatenate([centers, wc]), np.concatenate([axes, wa])
                radii, temps = np.concatenate([radii, wr]), np.concatenate([temps, wt])
                owner = np.concatenate([owner, np.full(len(warm), m)])
                frames = np.concatenate([frames, np.array([w[0] for w in warm], dtype=np.int64)])
            cam_c = (centers - self._sensor_pos) @ self._basis.T
            cam_axes = np.einsum("ij,pjl->pil", self._basis, axes)
            color, cover, visible = composite(
                cam_c, cam_axes, radii, to_radiance(temps), frames, owner, n, m + 1, self._bg.depth_flat
            )
            samples = color + (1.0 - cover) * bgs.reshape(n, -1)
            per_frame: list[list[int]] = [[] for _ in range(n)]
            if items:
                torso = body.centers[:, 1] - self._sensor_pos
                dist = np.sqrt(np.einsum("mi,mi->m", torso, torso))
                for i in np.nonzero(visible[:m] >= VISIBLE_PX)[0]:
                    per_frame[frame_of[i]].append(int(i))
            for f in range(n):
                if per_frame[f]:
                    seen = sorted(per_frame[f], key=lambda i: dist[i])
                    labels[f] = self._labels([(items[i][1], body.front[i]) for i in seen])
        else:
            samples = bgs.reshape(n, -1)
        pix = samples.reshape(n, FIELD, SUPER, FIELD, SUPER).mean(axis=(2, 4)).reshape(n, FIELD * FIELD)
        return from_radiance(pix @ self._blur.T), labels

    def _labels(self, seen: list[tuple[Pose, F64]]) -> Labels:
        if not seen:
            return EMPTY
        pose, front = seen[0]  # the nearest
        horiz = front[:2]
        norm = float(np.hypot(horiz[0], horiz[1]))
        if norm < 0.5:
            orientation = "side"  # lying on the back, chest up
        else:
            to_screen = (-pose.x, -pose.y)
            cos = float(horiz[0] * to_screen[0] + horiz[1] * to_screen[1]) / (
                norm * (math.hypot(*to_screen) + 1e-9)
            )
            orientation = "facing" if cos >= _COS45 else ("away" if cos <= -_COS45 else "side")
        return Labels(
            count=len(seen), presence=True, posture=POSTURE_NAMES[pose.posture], orientation=orientation
        )

    def _sensor(self, scene_c: F64, board_c: F64) -> F64:
        """Sensor readings (N, 64) from scene temperatures (N, 64) and board temperatures (N,)."""
        model = self.scene.sensor
        n = len(scene_c)
        b = board_c[:, None]
        reading = b + model.gain * (scene_c - b) + model.offset_c + self._fpn[None, :]
        reading += self._noise.normal(0.0, self._sigma, reading.shape)
        reading += self._noise.normal(
            0.0, model.common_noise_c * math.sqrt(min(self.fps, 10.0) / 10.0), (n, 1)
        )
        if model.moving_average:
            # each output is the mean of this frame and the one before: sqrt(2) less
            # noise, and movement smeared over two frames
            prev = np.concatenate([reading[:1] if self._last is None else self._last[None, :], reading[:-1]])
            self._last = reading[-1].copy()
            reading = 0.5 * (reading + prev)
        reading = np.round(reading / PIXEL_STEP_C) * PIXEL_STEP_C
        return np.asarray(np.clip(reading, OUT_MIN_C, OUT_MAX_C))

    # -- streams ---------------------------------------------------------------
    def records(self) -> Iterator[TraceRecord]:
        """Frames with their true labels, for ever."""
        scene = self.scene
        people = People(scene)
        model = scene.sensor
        dt = 1.0 / self.fps
        # at 1 fps the sensor averages its internal 10 fps frames: so does the simulator
        subs = 1 if self.fps >= 5 else 4
        k = 1.0 - math.exp(-dt / model.thermistor_tau_s)
        board = self._air(0.0)
        self._last = None
        start = time.monotonic()
        seq = 0
        chunk = 1 if self.realtime else _CHUNK
        while not self._closed:
            times: list[float] = []
            for i in range(chunk):
                t = (seq + i) * dt
                for j in range(subs):
                    st = t - (subs - 1 - j) * dt / subs
                    times.append(st % scene.loop_s if scene.loop_s else st)
            visits = [list(people.at(t)) for t in times]
            temps, labels = self._render_batch(times, visits)
            if subs > 1:
                rad = to_radiance(temps).reshape(chunk, subs, -1).mean(axis=1)
                temps = from_radiance(rad)
                labels = labels[subs - 1 :: subs]
            boards = np.empty(chunk)
            for i in range(chunk):
                board += (self._air(times[i * subs + subs - 1]) - board) * k
                heat = model.self_heating_c
                if model.warmup_s > 0:
                    heat *= 1.0 - math.exp(-(seq + i) * dt / model.warmup_s)
                boards[i] = board + heat
            pixels = self._sensor(temps, boards).astype(np.float32)
            therm = boards + self._noise.normal(0.0, 0.02, chunk)
            therm = np.clip(np.round(therm / THERM_STEP_C) * THERM_STEP_C, THERM_MIN_C, THERM_MAX_C)
            for i in range(chunk):
                if self._closed:
                    return
                t = seq * dt
                if self.realtime:
                    delay = start + t / self.speed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                yield TraceRecord(
                    Frame(pixels[i].reshape(PIXELS, PIXELS), float(therm[i]), round(t, 6), seq), labels[i]
                )
                seq += 1

    def __iter__(self) -> Iterator[Frame]:
        for record in self.records():
            yield record.frame

    def close(self) -> None:
        self._closed = True


SimSource = Simulator


def open_sim(spec: SourceSpec) -> Simulator:
    """``sim:?seed=1&fps=10&scene=demo|random&speed=1`` (see the module docstring)."""
    seed_f = spec.number("seed", 1.0, "a whole number")
    if seed_f != int(seed_f) or seed_f < 0:
        raise UsageError(f"{spec.text}: seed={seed_f:g} is not valid; seed must be a whole number, 0 or more")
    fps = spec.number("fps", 10.0, "a frame rate from 0.1 to 100 (the AMG8833 does 1 or 10)")
    speed = spec.number("speed", 1.0, "0 (as fast as possible) or more")
    kind = (spec.pop("scene", "demo") or "demo").lower()
    if spec.target.strip() not in ("", "//"):
        raise UsageError(f"{spec.text}: sim: takes no path; use sim:?seed=1&scene=demo")
    if not (math.isfinite(fps) and 0.1 <= fps <= 100):
        raise UsageError(f"{spec.text}: fps={fps:g} is not valid; use a frame rate from 0.1 to 100")
    if not (math.isfinite(speed) and speed >= 0):
        raise UsageError(f"{spec.text}: speed={speed:g} is not valid; use 0 (as fast as possible) or more")
    if kind == "demo":
        scene = demo_scene()
    elif kind == "random":
        scene = random_scene(np.random.default_rng([int(seed_f), 11]))
    else:
        raise UsageError(f"{spec.text}: scene={kind!r} is not valid; use scene=demo or scene=random")
    return Simulator(int(seed_f), fps, scene, realtime=speed > 0, speed=speed or 1.0)


def write_traces(
    out_dir: str | os.PathLike[str],
    traces: int,
    seconds: float,
    seed: int,
    fps: float = 10,
    **overrides: object,
) -> list[Path]:
    """Write ``traces`` labelled traces of ``seconds`` each, ``sim-0001.csv.gz`` ...

    Trace ``i`` is a :func:`random_scene` from ``(seed, i)``; ``overrides`` go
    to every scene (see :func:`random_scene`).
    """
    if traces < 1:
        raise UsageError(f"traces={traces} is not valid; write at least 1 trace")
    return [write_trace(out_dir, i, seconds, seed, fps, **overrides) for i in range(1, traces + 1)]


#: The billboard envelope (issue 15): wall mounts this high (m), tilted down this far (degrees).
ENVELOPE_HEIGHT_M = (1.0, 2.2)
ENVELOPE_TILT_DEG = (0.0, 30.0)


def envelope_placement(seed: int, index: int) -> dict[str, object]:
    """Scene overrides that put trace ``index`` inside the billboard envelope: a wall mount."""
    rng = np.random.default_rng([seed, index, 2])
    return {
        "mount": "wall",
        "height_m": float(rng.uniform(*ENVELOPE_HEIGHT_M)),
        "tilt_deg": float(rng.uniform(*ENVELOPE_TILT_DEG)),
    }


def write_trace(
    out_dir: str | os.PathLike[str],
    index: int,
    seconds: float,
    seed: int,
    fps: float = 10,
    **overrides: object,
) -> Path:
    """Trace number ``index`` (from 1) of :func:`write_traces`.

    The trace is written under a temporary name and renamed when complete, so
    an interrupted run never leaves a truncated trace behind.
    """
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"seconds={seconds} is not valid; give a positive duration")
    if seed < 0:
        raise UsageError(f"seed={seed} is not valid; use a whole number, 0 or more")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from None
    frames = max(1, round(seconds * fps))
    scene = random_scene(np.random.default_rng([seed, index]), **overrides)
    sim = Simulator(seed * 100_003 + index, fps, scene)
    path = out / f"sim-{index:04d}.csv.gz"
    room = scene.room
    meta = {
        "sensor": "amg8833",
        "fps": f"{fps:g}",
        "mount": room.mount,
        "height_m": f"{room.height_m:.2f}",
        "tilt_deg": f"{room.tilt_deg:.1f}",
        "site": "simulator",
        "source": f"heatcast sim seed={seed} trace={index} version={SIM_VERSION}",
        "note": scene.describe(),
    }
    part = out / f".part-{path.name}"
    try:
        with TraceWriter(part, meta, labels=("count", "presence", "posture", "orientation")) as writer:
            for n, record in enumerate(sim.records()):
                if n >= frames:
                    break
                writer.write(record.frame, record.labels)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        sim.close()
    log.info("wrote %s (%d frames): %s", path, frames, scene.describe())
    return path

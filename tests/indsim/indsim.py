"""An independent thermal-scene simulator for heatcast: a yardstick for the classifier.

It is written from physics alone, without the project's own simulator or classifier, and renders what a
Panasonic AMG8833 8x8 thermopile array on a billboard would see, together with the ground truth.

Geometry
    World axes: x to the right (as seen from behind the sensor, looking out), y away from the wall the
    sensor hangs on (depth into the room), z up; the floor is z = 0. The sensor sits at (0, 0, height_m)
    and looks along +y, pitched down by ``tilt_deg``. The room is a box: floor, ceiling, back wall at
    y = depth_m and two side walls, plus furniture (axis-aligned boxes) and distractors.

Optics
    The array has 8 x 8 pixels over 60 x 60 degrees, 7.5 degrees each. A pixel integrates the radiance
    arriving over its solid angle; we trace a regular 6 x 6 grid of rays per pixel (angular spacing in
    both directions, a pinhole with tan mapping) over a 10 x 10 pixel area, the field of view plus one
    pixel all round. The lens blur is a Gaussian point spread (0.3 to 0.5 pixel sigma) convolved with
    the pixel's box; the extra ring supplies the light that the blur spills in from outside the field.

Radiometry
    Averaging is done in radiance, not temperature: each surface emits ``eps * B(T) + (1 - eps) *
    B(T_room)`` where ``B`` is the Planck radiance integrated over the 8-14 um band that the sensor's
    filter passes, ``eps`` falls off at grazing angles (Fresnel-like) and the reflected part comes from
    the room at ambient. The pixel's mean band radiance is turned back into the temperature of a black
    body with that radiance, which is what the AMG8833 reports.

Sensor
    The reported value is ``board + gain * (T - board) + offset + noise``: a fixed per-pixel offset
    (fixed-pattern noise, about 0.12 C rms, at most 0.35 C) and gain (about 1 %), independent white
    noise of about 0.15 C rms per pixel and frame at 10 fps, then rounding to the 0.25 C output step.
    The thermistor reads the board, a few degrees above ambient from self heating, in 0.0625 C steps.

Room
    Surfaces sit near the ambient air temperature: the floor a little cooler, the ceiling a little
    warmer, walls with a vertical gradient from stratification and a faint smooth texture. Ambient
    drifts slowly (up to 1 C per 10 minutes, plus a small HVAC wobble). Distractors (radiators, TVs and
    monitors, lamps, sun patches on the floor, cold or warm windows) warm or cool with first-order lags
    when they switch; seats that a person sat on stay warm and cool exponentially after they leave.

People
    Bodies are unions of ellipsoids (head, neck, torso, pelvis, arms, thighs, shins; wheels and a
    backrest for a wheelchair) posed for walking (leg and arm swing), standing (sway, glances),
    sitting (hips on the seat, thighs forward) and lying (the standing body rotated down about the
    feet). Skin follows ambient (mean skin about 26.4 + 0.28 * ambient, 30 to 35.5 C), the face is
    warmer, hair cooler, and clothing lies between skin and air according to its insulation:
    ``T_cl = T_a + (T_skin - T_a) * R_air / (R_air + 0.155 * clo)``.

Labels
    A person counts when at least ``VISIBLE_RAYS`` of the traced rays inside the 60 degree field hit
    their body unoccluded (about a sixth of a pixel). The primary person is the counted one nearest the
    sensor (horizontal distance to the torso). Posture is ``lying`` once a fall is half done,
    ``sitting`` once half seated (always in a wheelchair), else ``standing``. Orientation compares the
    body's front with the direction to the sensor: within 45 degrees ``facing``, beyond 135 ``away``,
    else ``side``; for a lying person the head direction (feet to head) stands in for the front.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

ROWS = 8
COLS = 8
FOV_DEG = 60.0
PIXEL_DEG = FOV_DEG / COLS
SUBRAYS = 6  # rays per pixel along each axis
MARGIN_PX = 1  # pixels traced beyond the field of view on every side, for the blur
GRID = (COLS + 2 * MARGIN_PX) * SUBRAYS  # rays along each axis of the traced area
QUANTUM_C = 0.25
THERMISTOR_QUANTUM_C = 0.0625
OUTPUT_MIN_C = -20.0
OUTPUT_MAX_C = 80.0
VISIBLE_RAYS = 6  # unoccluded body rays inside the field needed to count a person
CULL_DEG = 52.0  # a body whose bounding sphere lies beyond this angle off axis is not traced
SKIN_EPS = 0.97
PROP_EPS = 0.9

BEHAVIOURS = (
    "pass",
    "stop_watch",
    "approach_watch",
    "stand",
    "toward",
    "away",
    "sit_bench",
    "sit_start",
    "wheelchair",
    "fall",
    "lying_start",
)
BEHAVIOUR_WEIGHTS = (0.24, 0.14, 0.14, 0.10, 0.07, 0.09, 0.06, 0.04, 0.05, 0.05, 0.02)

# body part kinds
HEAD, NECK, TORSO, PELVIS, ARM, THIGH, SHIN, PROP = range(8)
N_KINDS = 8


# -- scene description ------------------------------------------------------------------------------


@dataclass
class RoomSpec:
    """The room box and its surface temperatures, relative to ambient at frame 0."""

    depth_m: float  # back wall at y = depth_m
    left_m: float  # left wall at x = -left_m
    right_m: float  # right wall at x = +right_m
    ceiling_m: float
    floor_delta_c: float
    ceiling_delta_c: float
    wall_delta_c: tuple[float, float, float]  # back, left, right
    wall_gradient_c_per_m: float  # stratification: walls warm upwards
    texture_c: float  # amplitude of the smooth surface texture
    texture_seed: int


@dataclass
class BoxSpec:
    """An axis-aligned piece of furniture at ``ambient + delta_c``."""

    name: str
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    delta_c: float


@dataclass
class BenchSpec:
    """Where people sit: a bench seat (the boxes themselves are in ``SceneSpec.furniture``)."""

    x: float
    y: float
    length_m: float
    seat_z: float
    axis: str  # "x": long axis along x (sitters face the sensor), "y": along y (sitters face sideways)
    facing_yaw: float  # world yaw the sitters face
    back: bool
    delta_c: float


@dataclass
class DistractorSpec:
    """A warm or cold thing that is not a person.

    ``shape`` is ``box`` or ``ellipsoid`` (free-standing, centre and half sizes), ``floor`` (a patch on
    the floor: centre x, y and half sizes x, y) or ``wall`` (a patch on the back wall: centre x, z and
    half sizes x, z). The surface is ``off_delta_c`` from ambient when off and ``delta_c`` warmer when
    fully on; it switches on at ``on_at_s`` (a large negative value: on long ago, steady; infinity:
    never) and off at ``off_at_s``, approaching the new state with time constant ``tau_s``.
    """

    kind: str
    shape: str
    center: tuple[float, float, float]
    half: tuple[float, float, float]
    off_delta_c: float
    delta_c: float
    on_at_s: float
    off_at_s: float
    tau_s: float


@dataclass
class Action:
    """One step of a person's behaviour.

    ``walk``/``leave`` go to (x, y) at ``speed`` (leave: and vanish there); ``stand`` waits
    ``duration_s`` facing the sensor (``facing="sensor"``), keeping its heading (``keep``) or at ``yaw``;
    ``sit`` turns to ``yaw``, sits down onto the seat at (x, y), stays ``duration_s`` and stands up again;
    ``fall`` drops to the floor in ``duration_s``; ``lie`` stays down for ``duration_s``.
    """

    kind: str
    x: float = 0.0
    y: float = 0.0
    speed: float = 1.2
    duration_s: float = 0.0
    facing: str = "sensor"
    yaw: float = 0.0


@dataclass
class PersonSpec:
    """A person: body, clothing temperatures and a behaviour script starting at ``start_s``."""

    behaviour: str
    start_s: float
    x0: float
    y0: float
    yaw0: float  # world heading of the body's front, radians from +x
    posture0: str
    actions: list[Action]
    height_m: float
    build: float
    skin_c: float
    face_c: float
    hair_c: float
    torso_c: float
    legs_c: float
    shoes_c: float
    arms_bare: bool
    legs_bare: bool
    wheelchair: bool = False
    seat_h: float = 0.45
    fall_mode: str = "forward"
    sway_m: float = 0.02
    sway_deg: float = 4.0
    glance_deg: float = 10.0
    seat_cool_s: float = 60.0
    motion_seed: int = 0
    jitter_c: tuple[float, ...] = (0.0,) * N_KINDS


@dataclass
class SensorSpec:
    """One physical AMG8833: its noise, blur and fixed pattern (drawn from ``seed``)."""

    noise_rms_c: float
    psf_sigma_px: float
    fpn_rms_c: float
    gain_rms: float
    self_heat_c: float
    seed: int


@dataclass
class SceneSpec:
    """Every random parameter of one scene; ``render`` is a pure function of it."""

    seconds: float
    fps: float
    height_m: float
    tilt_deg: float
    ambient_c: float
    drift_c_per_s: float
    hvac_amp_c: float
    hvac_period_s: float
    room: RoomSpec
    sensor: SensorSpec
    noise_seed: int
    furniture: list[BoxSpec] = field(default_factory=list)
    bench: BenchSpec | None = None
    distractors: list[DistractorSpec] = field(default_factory=list)
    people: list[PersonSpec] = field(default_factory=list)
    kind: str = ""


@dataclass
class SimResult:
    """A rendered scene: frames and the ground truth per frame."""

    t: Array  # (N,) seconds
    thermistor: Array  # (N,) C
    pixels: Array  # (N, 8, 8) C, multiples of 0.25
    count: Array  # (N,) int
    posture: list[str]
    orientation: list[str]
    distance_m: Array  # (N,) nearest counted person's horizontal distance, NaN with nobody
    since_start: Array  # (N,) bool: the primary person has been in view since frame 0
    primary: Array  # (N,) index into spec.people, -1 with nobody
    ambient_c: Array  # (N,) air temperature
    visible: Array  # (N, people) bool: who is counted

    @property
    def presence(self) -> Array:
        return np.asarray(self.count > 0)


# -- radiometry -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _band_table() -> tuple[Array, Array]:
    """Planck radiance integrated over 8-14 um, tabulated against temperature (arbitrary units)."""
    h, c, k = 6.62607015e-34, 2.99792458e8, 1.380649e-23
    lam = np.linspace(8e-6, 14e-6, 61)
    t_c = np.arange(-80.0, 260.0, 0.02)
    x = h * c / (lam[None, :] * k * (t_c[:, None] + 273.15))
    spectral = 1.0 / (lam[None, :] ** 5 * np.expm1(x))
    band = spectral.sum(axis=1)
    band /= np.interp(25.0, t_c, band)
    return t_c, band


def band_radiance(temp_c: Array | float) -> Array:
    """In-band radiance of a black body at ``temp_c`` (1.0 at 25 C)."""
    t_c, band = _band_table()
    return np.asarray(np.interp(temp_c, t_c, band))


def radiance_temperature(radiance: Array) -> Array:
    """The black-body temperature with this in-band radiance: what a thermopile reports."""
    t_c, band = _band_table()
    return np.interp(radiance, band, t_c)


# -- small geometry helpers -------------------------------------------------------------------------


def _rot_x(a: Array) -> Array:
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([i, o, o], -1), np.stack([o, c, -s], -1), np.stack([o, s, c], -1)], -2)


def _rot_y(a: Array) -> Array:
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, o, s], -1), np.stack([o, i, o], -1), np.stack([-s, o, c], -1)], -2)


def _rot_z(a: Array) -> Array:
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def _smooth(lo: float, hi: float, x: Array) -> Array:
    """Smoothstep from 0 at ``lo`` to 1 at ``hi`` (``lo > hi`` reverses it)."""
    u = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def ray_directions(tilt_deg: float) -> Array:
    """Unit ray directions, (GRID * GRID, 3), row-major from the top left as seen looking out."""
    u = (np.arange(GRID) + 0.5) / SUBRAYS - MARGIN_PX - COLS / 2.0  # pixel units from the axis
    ang = np.radians(u * PIXEL_DEG)
    tx = np.tan(ang)[None, :] * np.ones((GRID, 1))
    tz = -np.tan(ang)[:, None] * np.ones((1, GRID))
    cam = np.stack([tx, np.ones_like(tx), tz], -1).reshape(-1, 3)
    cam /= np.linalg.norm(cam, axis=1, keepdims=True)
    tau = math.radians(tilt_deg)
    forward = np.array([0.0, math.cos(tau), -math.sin(tau)])
    up = np.array([0.0, math.sin(tau), math.cos(tau)])
    right = np.array([1.0, 0.0, 0.0])
    return np.asarray(cam[:, :1] * right + cam[:, 1:2] * forward + cam[:, 2:3] * up)


def pixel_kernel(sigma_px: float) -> Array:
    """(8, GRID) weights of each traced ray row (or column) in each pixel row (or column).

    The pixel's box response convolved with a Gaussian of ``sigma_px`` pixels, sampled at the rays.
    """
    sigma = max(sigma_px, 1e-3)
    u = (np.arange(GRID) + 0.5) / SUBRAYS - MARGIN_PX  # ray centre in pixel units, 0 = field edge
    k = np.empty((COLS, GRID))
    for i in range(COLS):
        for j, uj in enumerate(u):
            k[i, j] = 0.5 * (
                math.erf((i + 1 - uj) / (sigma * math.sqrt(2))) - math.erf((i - uj) / (sigma * math.sqrt(2)))
            )
    return np.asarray(k / k.sum(axis=1, keepdims=True))


def _hit_box(o: Array, d: Array, lo: Sequence[float], hi: Sequence[float]) -> Array:
    """Distance along each ray to an axis-aligned box (slab method), inf where missed."""
    dd = np.where(np.abs(d) < 1e-12, 1e-12, d)
    t1 = (np.asarray(lo) - o) / dd
    t2 = (np.asarray(hi) - o) / dd
    tnear = np.minimum(t1, t2).max(axis=1)
    tfar = np.maximum(t1, t2).min(axis=1)
    return np.where((tfar >= tnear) & (tnear > 1e-6), tnear, np.inf)


def _hit_ellipsoid(o: Array, d: Array, c: Sequence[float], semi: Sequence[float]) -> Array:
    oc = (o - np.asarray(c)) / np.asarray(semi)
    dl = d / np.asarray(semi)
    a = (dl * dl).sum(axis=1)
    b = 2.0 * (dl @ oc)
    cc = float(oc @ oc) - 1.0
    disc = b * b - 4.0 * a * cc
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
    return np.where((disc > 0) & (t > 1e-6), t, np.inf)


def _texture(u: Array, v: Array, seed: int, amp: float) -> Array:
    """A faint smooth surface pattern: a few random plane waves, 0.4 to 3 m long."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(u)
    for _ in range(4):
        lam = rng.uniform(0.4, 3.0)
        ang = rng.uniform(0.0, math.pi)
        out += np.cos(2 * math.pi / lam * (u * math.cos(ang) + v * math.sin(ang)) + rng.uniform(0, 6.3))
    return out * (amp / 2.0)


def _switch(t: Array, on_at: float, off_at: float, tau: float) -> Array:
    """First-order response (0..1) to a switch on at ``on_at`` and off at ``off_at``."""
    h = np.where(t > on_at, -np.expm1(-np.maximum(t - on_at, 0.0) / tau), 0.0)
    if math.isfinite(off_at):
        h_off = -math.expm1(-max(off_at - on_at, 0.0) / tau) if off_at > on_at else 0.0
        h = np.where(t > off_at, h_off * np.exp(-np.maximum(t - off_at, 0.0) / tau), h)
    return np.asarray(h)


# -- people: behaviour simulation -------------------------------------------------------------------


@dataclass
class _Track:
    present: Array
    x: Array
    y: Array
    yaw: Array
    sit: Array
    fall: Array
    speed: Array
    phase: Array
    seat_events: list[tuple[float, float, float, float]]  # (seated at, rose at, seat x, seat y)


def _turn(yaw: float, target: float, rate: float) -> float:
    return yaw + max(-rate, min(rate, _wrap(target - yaw)))


def _simulate(ps: PersonSpec, n: int, fps: float) -> _Track:
    """Step the behaviour script at the frame rate; the part from frame 0 on is kept."""
    dt = 1.0 / fps
    present = np.zeros(n, bool)
    rec = np.zeros((n, 7))
    x, y, yaw = ps.x0, ps.y0, ps.yaw0
    sit = 1.0 if (ps.posture0 == "sitting" or ps.wheelchair) else 0.0
    fall = 1.0 if ps.posture0 == "lying" else 0.0
    phase = 0.0
    ai, stage, timer = 0, 0, 0.0
    ax, ay = x, y
    seated_at = -math.inf
    events: list[tuple[float, float, float, float]] = []
    gone = False
    k0 = round(ps.start_s * fps)
    stride = 0.8 * ps.height_m
    for k in range(k0, n):
        t = k * dt
        speed = 0.0
        if ai < len(ps.actions):
            act = ps.actions[ai]
            done = False
            if act.kind in ("walk", "leave"):
                dx, dy = act.x - x, act.y - y
                dist = math.hypot(dx, dy)
                step = act.speed * dt
                if dist <= step:
                    x, y, done = act.x, act.y, True
                else:
                    x, y = x + dx / dist * step, y + dy / dist * step
                    yaw = _turn(yaw, math.atan2(dy, dx), 5.0 * dt)
                speed = min(act.speed, dist / dt)
                if done and act.kind == "leave":
                    gone = True
            elif act.kind == "stand":
                if act.facing == "sensor":
                    yaw = _turn(yaw, math.atan2(-y, -x), 3.0 * dt)
                elif act.facing == "yaw":
                    yaw = _turn(yaw, act.yaw, 3.0 * dt)
                timer += dt
                done = timer >= act.duration_s
            elif act.kind == "sit":
                if stage == 0:
                    ax, ay = x, y
                    if sit >= 0.999:
                        x, y, stage, seated_at = act.x, act.y, 2, -math.inf
                    else:
                        stage = 1
                if stage == 1:
                    if abs(_wrap(act.yaw - yaw)) > 0.2:
                        yaw = _turn(yaw, act.yaw, 3.0 * dt)
                    else:
                        sit = min(1.0, sit + dt / 1.5)
                        w = sit * sit * (3 - 2 * sit)
                        x, y = ax + (act.x - ax) * w, ay + (act.y - ay) * w
                        if sit >= 1.0:
                            stage, timer, seated_at = 2, 0.0, t
                elif stage == 2:
                    timer += dt
                    if timer >= act.duration_s:
                        stage = 3
                        events.append((seated_at, t, act.x, act.y))
                        ax, ay = (
                            (ax, ay)
                            if (ax, ay) != (act.x, act.y)
                            else (act.x + 0.45 * math.cos(act.yaw), act.y + 0.45 * math.sin(act.yaw))
                        )
                elif stage == 3:
                    sit = max(0.0, sit - dt / 1.5)
                    w = sit * sit * (3 - 2 * sit)
                    x, y = ax + (act.x - ax) * w, ay + (act.y - ay) * w
                    done = sit <= 0.0
            elif act.kind == "fall":
                fall = min(1.0, fall + dt / max(act.duration_s, 0.3))
                done = fall >= 1.0
            else:  # lie
                timer += dt
                done = timer >= act.duration_s
            if done:
                ai, stage, timer = ai + 1, 0, 0.0
        if not ps.wheelchair:
            phase += 2.0 * math.pi * speed * dt / stride
        if k >= 0 and not gone:
            present[k] = True
            rec[k] = (x, y, yaw, sit, fall, speed, phase)
        if gone:
            break
    if ai < len(ps.actions) and ps.actions[ai].kind == "sit" and stage == 2:
        events.append((seated_at, math.inf, ps.actions[ai].x, ps.actions[ai].y))
    _add_sway(ps, rec, present, fps)
    return _Track(
        present, rec[:, 0], rec[:, 1], rec[:, 2], rec[:, 3], rec[:, 4], rec[:, 5], rec[:, 6], events
    )


def _add_sway(ps: PersonSpec, rec: Array, present: Array, fps: float) -> None:
    """Standing still is never still: postural sway of a few cm, small turns and glances."""
    n = len(rec)
    if n == 0:
        return
    rng = np.random.default_rng(ps.motion_seed)
    t = np.arange(n) / fps
    still = ((rec[:, 5] < 0.05) & present).astype(float)
    win = max(1, int(fps))
    still = np.convolve(still, np.ones(win) / win, mode="same")
    scale = np.where(rec[:, 4] > 0.5, 0.2, 1.0)

    def wobble(amp: float) -> Array:
        out = np.zeros(n)
        for _ in range(3):
            out += np.sin(2 * math.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 6.3))
        return out * amp / 2.0

    rec[:, 0] += still * scale * wobble(ps.sway_m)
    rec[:, 1] += still * scale * wobble(ps.sway_m)
    glance = np.zeros(n)
    k = 0
    while k < n:
        span = int(rng.uniform(2.0, 8.0) * fps)
        glance[k : k + span] = rng.uniform(-1, 1) * math.radians(ps.glance_deg) if rng.random() < 0.5 else 0.0
        k += span
    alpha = 1.0 - math.exp(-1.0 / (0.7 * fps))
    smooth = np.zeros(n)
    acc = 0.0
    for i in range(n):
        acc += alpha * (glance[i] - acc)
        smooth[i] = acc
    rec[:, 2] += still * scale * (wobble(math.radians(ps.sway_deg)) + smooth * (rec[:, 4] < 0.5))


# -- people: bodies ---------------------------------------------------------------------------------


def _body(ps: PersonSpec, tr: _Track) -> tuple[Array, Array, Array, Array]:
    """Ellipsoids of the body in every frame: centres (N,P,3), rotations (N,P,3,3), semi-axes (P,3), kinds.

    The body frame has its origin on the floor under the pelvis, y forward (the body's front), z up.
    """
    h, b = ps.height_m, ps.build
    n = len(tr.x)
    s = np.ones(n) if ps.wheelchair else tr.sit
    f = tr.fall
    amp = 0.0 if ps.wheelchair else 1.0
    gait = amp * 0.38 * np.clip(tr.speed / 1.3, 0.0, 1.3)
    ph = tr.phase
    hs = ps.seat_h
    pelvis_z = 0.53 * h + (hs + 0.06 * h - 0.53 * h) * s
    up = pelvis_z - 0.53 * h
    bob = 0.012 * h * (np.abs(np.cos(ph)) - 0.64) * gait / 0.38
    sh = math.sqrt(h / 1.75)
    zero = np.zeros(n)
    eye = np.broadcast_to(np.eye(3), (n, 3, 3))

    centres: list[Array] = []
    rots: list[Array] = []
    semis: list[tuple[float, float, float]] = []
    kinds: list[int] = []

    def add(kind: int, c: Array, r: Array, semi: tuple[float, float, float]) -> None:
        centres.append(c)
        rots.append(r)
        semis.append(semi)
        kinds.append(kind)

    def vec(xv: float | Array, yv: float | Array, zv: Array) -> Array:
        return np.stack([zero + xv, zero + yv, zv], -1)

    add(HEAD, vec(0.0, 0.012 * h, 0.935 * h + up + bob), eye, (0.075 * sh, 0.095 * sh, 0.113 * sh))
    add(NECK, vec(0.0, 0.0, 0.855 * h + up + bob), eye, (0.05 * h / 1.75, 0.05 * h / 1.75, 0.06 * h / 1.75))
    add(TORSO, vec(0.0, 0.0, 0.715 * h + up + bob), eye, (0.098 * h * b, 0.062 * h * b, 0.135 * h))
    add(PELVIS, vec(0.0, 0.0, pelvis_z + bob), eye, (0.09 * h * b, 0.06 * h * b, 0.07 * h))
    down = np.array([0.0, 0.0, -1.0])
    for side in (-1.0, 1.0):
        theta = -side * 0.7 * gait * np.sin(ph) + s * 0.6
        r = _rot_x(theta)
        shoulder = vec(side * (0.098 * h * b + 0.022 * h), 0.0, 0.81 * h + up + bob)
        add(ARM, shoulder + r @ down * 0.215 * h, r, (0.026 * h * math.sqrt(b), 0.029 * h, 0.22 * h))
    for side in (-1.0, 1.0):
        walk = side * gait * np.sin(ph)
        r_t = _rot_x(walk + s * (math.pi / 2))
        hip = vec(side * 0.05 * h * b, 0.0, pelvis_z - 0.035 * h + bob)
        add(THIGH, hip + r_t @ down * 0.125 * h, r_t, (0.043 * h * b, 0.047 * h * b, 0.135 * h))
        knee = hip + r_t @ down * 0.245 * h
        r_s = _rot_x((1.0 - s) * 0.5 * walk)
        add(SHIN, knee + r_s @ down * 0.13 * h, r_s, (0.032 * h, 0.037 * h, 0.14 * h))
    n_body = len(kinds)
    if ps.wheelchair:
        for side in (-1.0, 1.0):
            add(PROP, vec(side * (0.098 * h * b + 0.07), -0.02, zero + 0.31), eye, (0.02, 0.31, 0.31))
        add(PROP, vec(0.0, -(0.062 * h * b + 0.06), zero + hs + 0.26), eye, (0.21, 0.02, 0.22))

    c_body = np.stack(centres, 1)  # (n, P, 3)
    r_body = np.stack([np.broadcast_to(r, (n, 3, 3)) for r in rots], 1)  # (n, P, 3, 3)
    # a fall rotates the body down about the feet, then lifts it to rest on the floor
    alpha = (math.pi / 2) * (f * f * (3 - 2 * f))
    if ps.fall_mode == "backward":
        r_fall, lift_dir = _rot_x(alpha), np.array([0.0, 1.0, 0.0])
    elif ps.fall_mode == "side":
        r_fall, lift_dir = _rot_y(alpha), np.array([-1.0, 0.0, 0.0])
    else:
        r_fall, lift_dir = _rot_x(-alpha), np.array([0.0, -1.0, 0.0])
    lift = np.sin(alpha)[:, None] * (np.array([0.0, 0.0, 0.065 * h * b]) + lift_dir * 0.2 * h)
    fb = slice(0, n_body)
    c_body[:, fb] = np.einsum("nij,npj->npi", r_fall, c_body[:, fb]) + lift[:, None, :]
    r_body[:, fb] = np.einsum("nij,npjk->npik", r_fall, r_body[:, fb])
    # place in the world: the body's front (0, 1, 0) points along the heading yaw
    r_world = _rot_z(tr.yaw - math.pi / 2)
    pos = np.stack([tr.x, tr.y, zero], -1)
    c_world = np.einsum("nij,npj->npi", r_world, c_body) + pos[:, None, :]
    r_all = np.einsum("nij,npjk->npik", r_world, r_body)
    return c_world, r_all, np.asarray(semis), np.asarray(kinds)


@dataclass
class _BodyRays:
    """Per-frame quadric coefficients of one person's ellipsoids against the sensor's rays."""

    q6: Array  # (N, P, 6)
    l3: Array  # (N, P, 3)
    c0: Array  # (N, P)
    m: Array  # (N, P, 3, 3): world offset -> unit-sphere coordinates
    o_local: Array  # (N, P, 3): the sensor in unit-sphere coordinates
    kinds: Array  # (P,)
    torso: Array  # (N, 3)
    front: Array  # (N, 3)
    head_dir: Array  # (N, 3)
    candidate: Array  # (N,) bool


def _body_rays(ps: PersonSpec, tr: _Track, origin: Array, axis: Array) -> _BodyRays:
    c, r, semi, kinds = _body(ps, tr)
    m = np.swapaxes(r, -1, -2) / semi[None, :, :, None]
    o_local = np.einsum("npij,npj->npi", m, origin - c)
    q = np.einsum("npki,npkj->npij", m, m)
    q6 = np.stack(
        [q[..., 0, 0], q[..., 1, 1], q[..., 2, 2], 2 * q[..., 0, 1], 2 * q[..., 0, 2], 2 * q[..., 1, 2]], -1
    )
    l3 = 2.0 * np.einsum("npki,npk->npi", m, o_local)
    c0 = (o_local * o_local).sum(-1) - 1.0
    torso = c[:, TORSO]
    v = torso - origin
    dist = np.maximum(np.linalg.norm(v, axis=1), 1e-6)
    ang = np.arccos(np.clip(v @ axis / dist, -1.0, 1.0))
    rad = np.arcsin(np.clip((0.6 * ps.height_m + 0.2) / dist, 0.0, 1.0))
    cand = tr.present & (ang - rad < math.radians(CULL_DEG))
    return _BodyRays(q6, l3, c0, m, o_local, kinds, torso, r[:, TORSO, :, 1], r[:, TORSO, :, 2], cand)


def _surface_temp(kind: Array, loc: Array, p: dict[str, Array], who: Array) -> Array:
    """Surface temperature at a hit on a body part, from where on the part (unit-sphere coords) it is."""
    y, z = loc[:, 1], loc[:, 2]

    def g(name: str) -> Array:
        return p[name][who]

    skin, hair, face, torso, legs, shoes = g("skin"), g("hair"), g("face"), g("torso"), g("legs"), g("shoes")
    face_w = _smooth(-0.2, 0.3, y) * (1.0 - _smooth(0.3, 0.65, z))
    neckline = _smooth(0.78, 0.95, z) * _smooth(0.0, 0.4, y) * 0.8
    hand = _smooth(-0.7, -0.85, z)
    sleeve_off = g("arms_bare") * _smooth(0.3, 0.1, z)
    arm_w = np.maximum(hand, sleeve_off)
    bare_leg = skin - 1.0
    thigh_w = g("legs_bare") * _smooth(0.3, 0.0, z)
    shin_cloth = legs + (bare_leg - legs) * g("legs_bare")
    shoe_w = _smooth(-0.7, -0.8, z)
    temps = np.select(
        [kind == HEAD, kind == NECK, kind == TORSO, kind == PELVIS, kind == ARM, kind == THIGH, kind == SHIN],
        [
            hair + (face - hair) * face_w,
            skin,
            torso + (skin - torso) * neckline,
            legs,
            torso + (skin - torso) * arm_w,
            legs + (bare_leg - legs) * thigh_w,
            shin_cloth + (shoes - shin_cloth) * shoe_w,
        ],
        g("prop"),
    )
    return np.asarray(temps + p["jitter"][who, kind])


# -- the static room --------------------------------------------------------------------------------


def _static_scene(
    spec: SceneSpec, dirs: Array, origin: Array, t: Array, tracks: list[_Track]
) -> tuple[Array, Array]:
    """Distance to the nearest room surface per ray (R,) and its temperature per frame (N, R)."""
    room, ta = spec.room, spec.ambient_c
    o = origin
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    big = np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        planes = np.stack(
            [
                np.where(dz < 0, -o[2] / dz, big),  # floor
                np.where(dz > 0, (room.ceiling_m - o[2]) / dz, big),  # ceiling
                np.where(dy > 0, room.depth_m / dy, big),  # back wall
                np.where(dx < 0, -room.left_m / dx, big),  # left wall
                np.where(dx > 0, room.right_m / dx, big),  # right wall
            ]
        )
    objs: list[Array] = [planes[i] for i in range(5)]
    for box in spec.furniture:
        objs.append(_hit_box(o, dirs, box.lo, box.hi))
    n_fixed = len(objs)
    for dis in spec.distractors:
        lo = tuple(c - h for c, h in zip(dis.center, dis.half, strict=True))
        hi = tuple(c + h for c, h in zip(dis.center, dis.half, strict=True))
        if dis.shape == "box":
            objs.append(_hit_box(o, dirs, lo, hi))
        elif dis.shape == "ellipsoid":
            objs.append(_hit_ellipsoid(o, dirs, dis.center, dis.half))
        else:
            objs.append(np.full(len(dirs), np.inf))
    tt = np.stack(objs)
    sid = tt.argmin(axis=0)
    t_hit = tt[sid, np.arange(len(dirs))]
    p = o + dirs * t_hit[:, None]
    px, py, pz = p[:, 0], p[:, 1], p[:, 2]
    seed, amp = room.texture_seed, room.texture_c
    wall_t = ta + room.wall_gradient_c_per_m * (pz - 1.2)
    base = np.select(
        [sid == 0, sid == 1, sid == 2, sid == 3, sid == 4],
        [
            ta + room.floor_delta_c + _texture(px, py, seed, amp),
            ta + room.ceiling_delta_c + _texture(px, py, seed + 1, amp),
            wall_t + room.wall_delta_c[0] + _texture(px, pz, seed + 2, amp),
            wall_t + room.wall_delta_c[1] + _texture(py, pz, seed + 3, amp),
            wall_t + room.wall_delta_c[2] + _texture(py, pz, seed + 4, amp),
        ],
        ta,
    )
    for i, box in enumerate(spec.furniture):
        sel = sid == 5 + i
        base[sel] = ta + box.delta_c + 0.5 * room.wall_gradient_c_per_m * (pz[sel] - 1.2)
    weights: list[Array] = []
    profiles: list[Array] = []
    for i, dis in enumerate(spec.distractors):
        if dis.shape in ("box", "ellipsoid"):
            sel = sid == n_fixed + i
            base[sel] = ta + dis.off_delta_c
            w = sel.astype(float)
        elif dis.shape == "floor":
            w = (sid == 0) * _patch(px, py, dis.center[0], dis.center[1], dis.half[0], dis.half[1])
        else:
            w = (sid == 2) * _patch(px, pz, dis.center[0], dis.center[2], dis.half[0], dis.half[2])
        weights.append(w)
        profiles.append(dis.delta_c * _switch(t, dis.on_at_s, dis.off_at_s, dis.tau_s))
    if spec.bench is not None:
        for ps, tr in zip(spec.people, tracks, strict=True):
            for seated, rose, sx, sy in tr.seat_events:
                weights.append(_seat_weights(spec, sid, p, sx, sy))
                profiles.append(_seat_profile(spec, ps, t, seated, rose))
    ambient = _ambient(spec, t)
    temps = np.broadcast_to(base, (len(t), len(dirs))) + (ambient - ta)[:, None]
    if weights:
        temps = temps + np.stack(profiles, 1) @ np.stack(weights)
    return t_hit, np.asarray(temps)


def _patch(u: Array, v: Array, cu: float, cv: float, hu: float, hv: float) -> Array:
    """A rectangle with 5 cm soft edges."""
    return np.asarray(
        _smooth(hu + 0.05, hu - 0.05, np.abs(u - cu)) * _smooth(hv + 0.05, hv - 0.05, np.abs(v - cv))
    )


def _seat_weights(spec: SceneSpec, sid: Array, p: Array, sx: float, sy: float) -> Array:
    """Where a sitter warms the bench: the seat under the hips and the backrest behind the back."""
    bench = spec.bench
    assert bench is not None
    names = [b.name for b in spec.furniture]
    w = np.zeros(len(sid))
    if "bench" in names:
        sel = (sid == 5 + names.index("bench")) & (p[:, 2] > bench.seat_z - 0.01)
        d2 = (p[:, 0] - sx) ** 2 + (p[:, 1] - sy) ** 2
        w = np.where(sel, np.exp(-d2 / (2 * 0.12**2)), 0.0)
    if "bench_back" in names:
        sel = sid == 5 + names.index("bench_back")
        along = p[:, 0] - sx if bench.axis == "x" else p[:, 1] - sy
        zw = _smooth(bench.seat_z + 0.05, bench.seat_z + 0.15, p[:, 2]) * _smooth(
            bench.seat_z + 0.5, bench.seat_z + 0.4, p[:, 2]
        )
        w = w + np.where(sel, 0.6 * np.exp(-(along**2) / (2 * 0.13**2)) * zw, 0.0)
    return np.asarray(np.where(w > 0.03, w, 0.0))


def _seat_profile(spec: SceneSpec, ps: PersonSpec, t: Array, seated: float, rose: float) -> Array:
    """Seat excess temperature: warms towards contact temperature while sat on, then cools away."""
    bench = spec.bench
    assert bench is not None
    excess = max(0.0, 0.5 * (ps.legs_c + ps.torso_c) + 0.5 - (spec.ambient_c + bench.delta_c))
    tau_heat = 25.0
    if math.isinf(seated):
        warm = np.full(len(t), excess)
    else:
        warm = excess * -np.expm1(-np.maximum(t - seated, 0.0) / tau_heat) * (t >= seated)
    if math.isfinite(rose):
        at_rise = excess if math.isinf(seated) else excess * -math.expm1(-max(rose - seated, 0.0) / tau_heat)
        warm = np.where(t > rose, at_rise * np.exp(-np.maximum(t - rose, 0.0) / ps.seat_cool_s), warm)
    return np.asarray(warm)


def _ambient(spec: SceneSpec, t: Array) -> Array:
    return np.asarray(
        spec.ambient_c
        + spec.drift_c_per_s * t
        + spec.hvac_amp_c * np.sin(2 * math.pi * t / spec.hvac_period_s + spec.noise_seed % 7)
    )


# -- rendering --------------------------------------------------------------------------------------


def render(spec: SceneSpec) -> SimResult:
    """Render every frame of a scene and its labels."""
    n = round(spec.seconds * spec.fps)
    t = np.arange(n) / spec.fps
    dirs = ray_directions(spec.tilt_deg)
    n_rays = len(dirs)
    origin = np.array([0.0, 0.0, spec.height_m])
    tau = math.radians(spec.tilt_deg)
    axis = np.array([0.0, math.cos(tau), -math.sin(tau)])
    tracks = [_simulate(ps, n, spec.fps) for ps in spec.people]
    t_static, temps = _static_scene(spec, dirs, origin, t, tracks)
    rad = band_radiance(temps)
    ambient = _ambient(spec, t)
    rad_ambient = band_radiance(ambient)

    bodies = [_body_rays(ps, tr, origin, axis) for ps, tr in zip(spec.people, tracks, strict=True)]
    n_people = len(bodies)
    params = _person_params(spec)
    dd = np.stack(
        [
            dirs[:, 0] ** 2,
            dirs[:, 1] ** 2,
            dirs[:, 2] ** 2,
            dirs[:, 0] * dirs[:, 1],
            dirs[:, 0] * dirs[:, 2],
            dirs[:, 1] * dirs[:, 2],
        ]
    )
    d3 = dirs.T
    sub = (np.arange(GRID) + 0.5) / SUBRAYS - MARGIN_PX
    inside = (sub >= 0) & (sub < COLS)
    central = (inside[:, None] & inside[None, :]).reshape(-1)
    seen = np.zeros((n, max(n_people, 1)), int)
    for k in range(n):
        who = [j for j in range(n_people) if bodies[j].candidate[k]]
        if not who:
            continue
        q6 = np.concatenate([bodies[j].q6[k] for j in who])
        l3 = np.concatenate([bodies[j].l3[k] for j in who])
        c0 = np.concatenate([bodies[j].c0[k] for j in who])
        a = q6 @ dd
        b = l3 @ d3
        disc = b * b - 4.0 * a * c0[:, None]
        root = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
        root[(disc <= 0.0) | (root <= 1e-6)] = np.inf
        best = root.argmin(axis=0)
        t_best = root[best, np.arange(n_rays)]
        hit = np.nonzero(t_best < t_static)[0]
        if len(hit) == 0:
            continue
        row_person = np.concatenate([np.full(len(bodies[j].kinds), j) for j in who])
        rows = best[hit]
        pj = row_person[rows]
        m_all = np.concatenate([bodies[j].m[k] for j in who])[rows]
        o_all = np.concatenate([bodies[j].o_local[k] for j in who])[rows]
        kind = np.concatenate([bodies[j].kinds for j in who])[rows]
        d_hit = dirs[hit]
        loc = o_all + t_best[hit, None] * np.einsum("hij,hj->hi", m_all, d_hit)
        normal = np.einsum("hji,hj->hi", m_all, loc)
        cos = np.clip(-(normal * d_hit).sum(1) / np.linalg.norm(normal, axis=1), 0.0, 1.0)
        eps0 = np.where(kind == PROP, PROP_EPS, SKIN_EPS)
        eps = eps0 * (1.0 - 0.5 * (1.0 - cos) ** 4)
        temp = _surface_temp(kind, loc, params, pj)
        rad[k, hit] = eps * band_radiance(temp) + (1.0 - eps) * rad_ambient[k]
        body_in_view = central[hit] & (kind != PROP)
        seen[k] += np.bincount(pj[body_in_view], minlength=seen.shape[1])

    kernel = pixel_kernel(spec.sensor.psf_sigma_px)
    grid = rad.reshape(n, GRID, GRID)
    pix_rad = kernel @ grid @ kernel.T
    true_c = radiance_temperature(pix_rad)

    sensor = spec.sensor
    srng = np.random.default_rng(sensor.seed)
    fpn = np.clip(srng.normal(0.0, sensor.fpn_rms_c, (ROWS, COLS)), -0.35, 0.35)
    gain = 1.0 + srng.normal(0.0, sensor.gain_rms, (ROWS, COLS))
    board = ambient + sensor.self_heat_c
    nrng = np.random.default_rng(spec.noise_seed)
    noise = nrng.normal(0.0, sensor.noise_rms_c, (n, ROWS, COLS))
    raw = board[:, None, None] + gain * (true_c - board[:, None, None]) + fpn + noise
    pixels = np.clip(np.round(raw / QUANTUM_C) * QUANTUM_C, OUTPUT_MIN_C, OUTPUT_MAX_C)
    thermistor = np.round((board + nrng.normal(0.0, 0.03, n)) / THERMISTOR_QUANTUM_C) * THERMISTOR_QUANTUM_C

    return _labels(spec, t, thermistor, pixels, ambient, tracks, bodies, seen[:, :n_people] >= VISIBLE_RAYS)


def _person_params(spec: SceneSpec) -> dict[str, Array]:
    people = spec.people

    def col(values: Sequence[float]) -> Array:
        return np.asarray(values, float)

    return {
        "skin": col([p.skin_c for p in people]),
        "hair": col([p.hair_c for p in people]),
        "face": col([p.face_c for p in people]),
        "torso": col([p.torso_c for p in people]),
        "legs": col([p.legs_c for p in people]),
        "shoes": col([p.shoes_c for p in people]),
        "arms_bare": col([float(p.arms_bare) for p in people]),
        "legs_bare": col([float(p.legs_bare) for p in people]),
        "prop": col([spec.ambient_c + 0.5 for _ in people]),
        "jitter": np.asarray([p.jitter_c for p in people], float).reshape(len(people), N_KINDS),
    }


def _labels(
    spec: SceneSpec,
    t: Array,
    thermistor: Array,
    pixels: Array,
    ambient: Array,
    tracks: list[_Track],
    bodies: list[_BodyRays],
    visible: Array,
) -> SimResult:
    n = len(t)
    count = visible.sum(axis=1).astype(int)
    posture = [""] * n
    orientation = [""] * n
    distance = np.full(n, np.nan)
    primary = np.full(n, -1)
    since = np.zeros(n, bool)
    if bodies:
        torso = np.stack([b.torso for b in bodies], 1)  # (n, P, 3)
        dist = np.hypot(torso[..., 0], torso[..., 1])
        dist = np.where(visible, dist, np.inf)
        nearest = dist.argmin(axis=1)
        cont = np.logical_and.accumulate(visible, axis=0)
        for k in np.nonzero(count > 0)[0]:
            j = int(nearest[k])
            tr, body = tracks[j], bodies[j]
            primary[k] = j
            distance[k] = dist[k, j]
            since[k] = bool(cont[k, j])
            lying = tr.fall[k] > 0.5
            if lying:
                posture[k] = "lying"
            elif spec.people[j].wheelchair or tr.sit[k] > 0.5:
                posture[k] = "sitting"
            else:
                posture[k] = "standing"
            front = body.head_dir[k] if lying else body.front[k]
            to_sensor = -body.torso[k, :2]
            fx = front[:2] / max(float(np.linalg.norm(front[:2])), 1e-9)
            ts = to_sensor / max(float(np.linalg.norm(to_sensor)), 1e-9)
            angle = math.degrees(math.acos(max(-1.0, min(1.0, float(fx @ ts)))))
            orientation[k] = "facing" if angle <= 45.0 else ("side" if angle <= 135.0 else "away")
    return SimResult(
        t, thermistor, pixels, count, posture, orientation, distance, since, primary, ambient, visible
    )


# -- random scenes ----------------------------------------------------------------------------------


def _ambient_sample(rng: np.random.Generator) -> float:
    """15-30 C, with extra weight on warm 25-30 C rooms where people contrast least."""
    return float(rng.uniform(25.0, 30.0) if rng.random() < 0.3 else rng.uniform(15.0, 30.0))


def _body_params(rng: np.random.Generator, ta: float) -> dict[str, Any]:
    """Body size and surface temperatures; clothing from a thermal-resistance balance."""
    child = rng.random() < 0.08
    height = rng.uniform(1.05, 1.45) if child else float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.98))
    skin = float(np.clip(26.4 + 0.28 * ta + rng.normal(0.0, 0.5), 30.0, 35.5))
    face = float(np.clip(skin + rng.uniform(0.5, 1.5), 31.5, 35.5))
    r_air = rng.uniform(0.11, 0.14)
    coat = rng.random() < 0.06  # just came in from the cold in a thick coat

    def cloth(clo_lo: float, clo_hi: float) -> float:
        clo = rng.uniform(2.0, 3.0) if coat else rng.uniform(clo_lo, clo_hi)
        return float(ta + (skin - ta) * r_air / (r_air + 0.155 * clo))

    warm = ta > 24.0
    hair = skin - 0.5 if rng.random() < 0.1 else float(ta + (skin - ta) * rng.uniform(0.45, 0.75))
    return {
        "height_m": float(height),
        "build": float(rng.uniform(0.85, 1.2)),
        "skin_c": skin,
        "face_c": face,
        "hair_c": hair,
        "torso_c": cloth(0.15, 0.9),
        "legs_c": cloth(0.2, 0.8),
        "shoes_c": float(ta + (skin - ta) * rng.uniform(0.2, 0.4)),
        "arms_bare": bool(rng.random() < (0.55 if warm else 0.15)) and not coat,
        "legs_bare": bool(rng.random() < (0.35 if warm else 0.05)) and not coat,
        "sway_m": float(rng.uniform(0.01, 0.04)),
        "sway_deg": float(rng.uniform(2.0, 8.0)),
        "glance_deg": float(rng.uniform(0.0, 30.0)),
        "seat_cool_s": float(rng.uniform(40.0, 100.0)),
        "motion_seed": int(rng.integers(2**31)),
        "fall_mode": str(rng.choice(["forward", "backward", "side"])),
        "jitter_c": tuple(float(v) for v in rng.normal(0.0, 0.3, N_KINDS)),
    }


@dataclass
class _Ctx:
    rng: np.random.Generator
    seconds: float
    ta: float
    depth: float
    bench: BenchSpec | None

    @property
    def y_max(self) -> float:
        return min(5.0, self.depth - 0.5)

    def edge(self, y: float, side: float) -> float:
        """An x just outside the field of view at depth y."""
        return side * (max(y, 0.5) * math.tan(math.radians(38.0)) + 0.8 + self.rng.uniform(0.0, 0.8))

    def in_view_x(self, y: float, frac: float = 0.7) -> float:
        return float(self.rng.uniform(-frac, frac) * y * math.tan(math.radians(30.0)))

    def depth_sample(self, lo: float = 0.5, hi: float = 5.0) -> float:
        return float(self.rng.uniform(lo, max(lo + 0.1, min(hi, self.y_max))))


def _person(
    ctx: _Ctx,
    behaviour: str,
    start: float,
    x0: float,
    y0: float,
    yaw0: float,
    actions: list[Action],
    posture0: str = "standing",
    **kw: Any,
) -> PersonSpec:
    body = _body_params(ctx.rng, ctx.ta)
    body.update(kw)
    return PersonSpec(
        behaviour=behaviour,
        start_s=start,
        x0=x0,
        y0=y0,
        yaw0=yaw0,
        posture0=posture0,
        actions=actions,
        **body,
    )


def _b_pass(ctx: _Ctx, wheelchair: bool = False) -> PersonSpec:
    rng = ctx.rng
    y = ctx.depth_sample()
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.5, 1.1) if wheelchair else rng.uniform(0.8, 1.5)
    x0, x1 = ctx.edge(y, -side), ctx.edge(y, side)
    y1 = float(np.clip(y + rng.uniform(-0.8, 0.8), 0.5, ctx.y_max))
    travel = math.hypot(x1 - x0, y1 - y) / speed
    start = float(rng.uniform(-0.8 * travel, max(-0.7 * travel, ctx.seconds - 0.4 * travel)))
    yaw0 = math.atan2(y1 - y, x1 - x0)
    kw: dict[str, Any] = {"wheelchair": True, "seat_h": 0.5} if wheelchair else {}
    return _person(
        ctx,
        "wheelchair" if wheelchair else "pass",
        start,
        x0,
        y,
        yaw0,
        [Action("leave", x1, y1, speed)],
        **kw,
    )


def _b_stop_watch(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    y = ctx.depth_sample(0.8, 4.5)
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.8, 1.4)
    x0, xs, x1 = ctx.edge(y, -side), ctx.in_view_x(y, 0.5), ctx.edge(y, side)
    watch = rng.uniform(4.0, 60.0)
    start = float(rng.uniform(-abs(xs - x0) / speed - 0.8 * watch, 0.6 * ctx.seconds))
    acts = [Action("walk", xs, y, speed), Action("stand", duration_s=watch), Action("leave", x1, y, speed)]
    return _person(ctx, "stop_watch", start, x0, y, math.atan2(0.0, x1 - x0), acts)


def _b_approach_watch(ctx: _Ctx, wheelchair: bool = False) -> PersonSpec:
    rng = ctx.rng
    y_far = ctx.depth_sample(2.5, 5.0)
    y_near = float(rng.uniform(0.6, 2.0))
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.5, 1.0) if wheelchair else rng.uniform(0.8, 1.3)
    x0 = ctx.edge(y_far, side)
    xn = ctx.in_view_x(y_near, 0.4)
    watch = rng.uniform(5.0, 45.0)
    acts = [
        Action("walk", ctx.in_view_x(y_far, 0.5), y_far, speed),
        Action("walk", xn, y_near, speed),
        Action("stand", duration_s=watch),
    ]
    if rng.random() < 0.5:
        back = min(ctx.y_max, y_near + rng.uniform(2.0, 3.5))
        acts += [
            Action("walk", xn + rng.uniform(-0.5, 0.5), back, speed),
            Action("leave", ctx.edge(back, side), back, speed),
        ]
    else:
        acts.append(Action("leave", ctx.edge(y_near, -side), y_near, speed))
    start = float(rng.uniform(-0.5 * watch - 4.0, 0.5 * ctx.seconds))
    kw: dict[str, Any] = {"wheelchair": True, "seat_h": 0.5} if wheelchair else {}
    return _person(
        ctx, "wheelchair" if wheelchair else "approach_watch", start, x0, y_far, math.pi, acts, **kw
    )


def _b_stand(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    y = ctx.depth_sample(0.7, 4.5)
    x = ctx.in_view_x(y)
    u = rng.random()
    to_sensor = math.atan2(-y, -x)
    if u < 0.6:
        act = Action("stand", duration_s=1e9)
        yaw0 = to_sensor
    elif u < 0.8:
        yaw0 = to_sensor + float(rng.choice([-1.0, 1.0])) * math.pi / 2
        act = Action("stand", duration_s=1e9, facing="yaw", yaw=yaw0)
    else:
        yaw0 = to_sensor + math.pi
        act = Action("stand", duration_s=1e9, facing="yaw", yaw=yaw0)
    acts = [act]
    if rng.random() < 0.4:
        act.duration_s = rng.uniform(0.3, 0.9) * ctx.seconds
        acts.append(Action("leave", ctx.edge(y, float(rng.choice([-1.0, 1.0]))), y, rng.uniform(0.8, 1.3)))
    return _person(ctx, "stand", -rng.uniform(1.0, 30.0), x, y, yaw0, acts)


def _b_toward(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    y_far = ctx.depth_sample(3.5, 5.0)
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.8, 1.4)
    xf = ctx.in_view_x(y_far, 0.4)
    y_near = float(rng.uniform(0.5, 1.2))
    acts = [
        Action("walk", xf, y_far, speed),
        Action("walk", ctx.in_view_x(y_near, 0.3), y_near, speed),
        Action("stand", duration_s=rng.uniform(0.0, 3.0)),
        Action("leave", ctx.edge(y_near, -side), y_near, speed),
    ]
    start = float(rng.uniform(-3.0, 0.6 * ctx.seconds))
    return _person(ctx, "toward", start, ctx.edge(y_far, side), y_far, math.pi, acts)


def _b_away(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    y_near = float(rng.uniform(0.5, 1.3))
    y_far = ctx.depth_sample(3.5, 5.0)
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.8, 1.4)
    xn = ctx.in_view_x(y_near, 0.4)
    far = [
        Action("walk", ctx.in_view_x(y_far, 0.4), y_far, speed),
        Action("leave", ctx.edge(y_far, side), y_far, speed),
    ]
    if rng.random() < 0.5:  # already there at frame 0, then walks off into the room
        acts = [Action("stand", duration_s=rng.uniform(0.0, 5.0)), *far]
        return _person(ctx, "away", -rng.uniform(0.5, 5.0), xn, y_near, math.atan2(-y_near, -xn), acts)
    acts = [Action("walk", xn, y_near, speed), *far]
    start = float(rng.uniform(-2.0, 0.6 * ctx.seconds))
    return _person(ctx, "away", start, ctx.edge(y_near, -side), y_near, 0.0, acts)


def _seat(ctx: _Ctx) -> tuple[float, float, float]:
    bench = ctx.bench
    assert bench is not None
    u = float(ctx.rng.uniform(-0.5, 0.5) * (bench.length_m - 0.6))
    fx, fy = math.cos(bench.facing_yaw), math.sin(bench.facing_yaw)
    ax_, ay_ = (1.0, 0.0) if bench.axis == "x" else (0.0, 1.0)
    return bench.x + u * ax_ - 0.03 * fx, bench.y + u * ay_ - 0.03 * fy, bench.facing_yaw


def _b_sit_bench(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    sx, sy, yaw = _seat(ctx)
    assert ctx.bench is not None
    apx, apy = sx + 0.5 * math.cos(yaw), sy + 0.5 * math.sin(yaw)
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.8, 1.3)
    dwell = rng.uniform(8.0, 40.0)
    acts = [
        Action("walk", apx, apy, speed),
        Action("sit", sx, sy, duration_s=dwell, yaw=yaw),
        Action("leave", ctx.edge(apy, -side), apy, speed),
    ]
    start = float(rng.uniform(-5.0, 0.5 * ctx.seconds))
    return _person(ctx, "sit_bench", start, ctx.edge(apy, side), apy, 0.0, acts, seat_h=ctx.bench.seat_z)


def _b_sit_start(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    sx, sy, yaw = _seat(ctx)
    assert ctx.bench is not None
    side = float(rng.choice([-1.0, 1.0]))
    apy = sy + 0.5 * math.sin(yaw)
    acts = [
        Action("sit", sx, sy, duration_s=rng.uniform(0.3, 1.5) * ctx.seconds, yaw=yaw),
        Action("leave", ctx.edge(apy, side), apy, rng.uniform(0.8, 1.3)),
    ]
    return _person(ctx, "sit_start", -1.0, sx, sy, yaw, acts, posture0="sitting", seat_h=ctx.bench.seat_z)


def _b_fall(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    y = ctx.depth_sample(1.0, 4.5)
    x = ctx.in_view_x(y, 0.4)
    fall = Action("fall", duration_s=rng.uniform(0.7, 1.5))
    lie = Action("lie", duration_s=1e9)
    if rng.random() < 0.4:  # standing at frame 0
        acts = [Action("stand", duration_s=rng.uniform(2.0, 0.6 * ctx.seconds), facing="keep"), fall, lie]
        return _person(ctx, "fall", -rng.uniform(1.0, 10.0), x, y, rng.uniform(-math.pi, math.pi), acts)
    side = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(0.7, 1.3)
    acts = [
        Action("walk", x, y, speed),
        Action("stand", duration_s=rng.uniform(0.0, 8.0), facing="keep"),
        fall,
        lie,
    ]
    start = float(rng.uniform(-3.0, 0.5 * ctx.seconds))
    return _person(ctx, "fall", start, ctx.edge(y, side), y, 0.0, acts)


def _b_lying_start(ctx: _Ctx) -> PersonSpec:
    rng = ctx.rng
    y = ctx.depth_sample(1.0, 4.0)
    return _person(
        ctx,
        "lying_start",
        -1.0,
        ctx.in_view_x(y, 0.4),
        y,
        rng.uniform(-math.pi, math.pi),
        [Action("lie", duration_s=1e9)],
        posture0="lying",
    )


def _companion(ctx: _Ctx, lead: PersonSpec) -> PersonSpec:
    """Someone walking with ``lead``: the same path, a little behind and beside."""
    rng = ctx.rng
    act = lead.actions[0]
    speed = act.speed
    lag = rng.uniform(0.2, 1.2) / speed
    dy = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.8))
    y0 = float(np.clip(lead.y0 + dy, 0.5, ctx.y_max))
    y1 = float(np.clip(act.y + dy, 0.5, ctx.y_max))
    return _person(
        ctx, "pass", lead.start_s + lag, lead.x0, y0, lead.yaw0, [Action("leave", act.x, y1, speed)]
    )


def _choose_on(rng: np.random.Generator, seconds: float) -> tuple[float, float]:
    u = rng.random()
    if u < 0.5:
        on = -1e6
        off = float(rng.uniform(0.2, 0.8) * seconds) if rng.random() < 0.1 else math.inf
        return on, off
    if u < 0.8:
        return float(rng.uniform(0.0, 0.7 * seconds)), math.inf
    return math.inf, math.inf


def _distractors(
    rng: np.random.Generator,
    seconds: float,
    ta: float,
    room: RoomSpec,
    table: BoxSpec | None,
    at_least_one: bool,
) -> list[DistractorSpec]:
    out: list[DistractorSpec] = []
    d = room.depth_m
    span = d * math.tan(math.radians(25.0))
    while True:
        if rng.random() < (0.35 if ta < 24.0 else 0.1):
            on, off = _choose_on(rng, seconds)
            z = rng.uniform(0.35, 0.55)
            out.append(
                DistractorSpec(
                    "radiator",
                    "box",
                    (rng.uniform(-span, span), d - 0.06, z),
                    (rng.uniform(0.3, 0.8), 0.05, rng.uniform(0.2, 0.3)),
                    -0.2,
                    max(3.0, rng.uniform(35.0, 55.0) - ta),
                    on,
                    off,
                    rng.uniform(30.0, 90.0),
                )
            )
        if rng.random() < 0.35:
            on, off = _choose_on(rng, seconds)
            if table is not None and rng.random() < 0.6:
                cx, cy = 0.5 * (table.lo[0] + table.hi[0]), 0.5 * (table.lo[1] + table.hi[1])
                centre, half = (cx, cy + 0.2, table.hi[2] + 0.2), (0.27, 0.02, 0.17)
                kind = "monitor"
            else:
                centre = (rng.uniform(-span, span), d - 0.05, rng.uniform(1.0, 1.7))
                half = (rng.uniform(0.3, 0.65), 0.04, rng.uniform(0.18, 0.38))
                kind = "tv"
            out.append(
                DistractorSpec(
                    kind,
                    "box",
                    centre,
                    half,
                    0.0,
                    max(2.0, rng.uniform(30.0, 40.0) - ta),
                    on,
                    off,
                    rng.uniform(40.0, 120.0),
                )
            )
        if rng.random() < 0.25:
            on, off = _choose_on(rng, seconds)
            y = rng.uniform(2.0, d - 0.4)
            if rng.random() < 0.6:
                r = rng.uniform(0.12, 0.2)
                centre = (rng.uniform(-1, 1) * y * 0.5, y, rng.uniform(1.3, 1.7))
                out.append(
                    DistractorSpec(
                        "lamp",
                        "ellipsoid",
                        centre,
                        (r, r, rng.uniform(0.1, 0.16)),
                        0.0,
                        max(5.0, rng.uniform(35.0, 60.0) - ta),
                        on,
                        off,
                        rng.uniform(8.0, 30.0),
                    )
                )
            else:
                centre = (rng.uniform(-1, 1) * y * 0.5, y, room.ceiling_m - 0.03)
                out.append(
                    DistractorSpec(
                        "downlight",
                        "ellipsoid",
                        centre,
                        (0.1, 0.1, 0.03),
                        0.0,
                        rng.uniform(15.0, 30.0),
                        on,
                        off,
                        rng.uniform(8.0, 30.0),
                    )
                )
        if rng.random() < 0.2:
            y = rng.uniform(1.5, max(1.6, d - 1.0))
            out.append(
                DistractorSpec(
                    "sun",
                    "floor",
                    (rng.uniform(-1, 1) * y * 0.5, y, 0.0),
                    (rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.6), 0.0),
                    0.0,
                    rng.uniform(2.0, 8.0),
                    float(rng.uniform(-600.0, 0.5 * seconds)),
                    math.inf,
                    rng.uniform(120.0, 600.0),
                )
            )
        if rng.random() < 0.2:
            delta = rng.uniform(-5.0, -1.0) if rng.random() < 0.7 else rng.uniform(1.0, 4.0)
            out.append(
                DistractorSpec(
                    "window",
                    "wall",
                    (rng.uniform(-span, span), d, rng.uniform(1.2, 1.7)),
                    (rng.uniform(0.4, 1.0), 0.0, rng.uniform(0.3, 0.6)),
                    0.0,
                    delta,
                    -1e6,
                    math.inf,
                    100.0,
                )
            )
        if out or not at_least_one:
            return out


def random_scene(
    rng: np.random.Generator,
    seconds: float,
    fps: float = 10.0,
    *,
    people: int | None = None,
    behaviours: Sequence[str] | None = None,
    ambient_c: float | None = None,
    distractors: bool | None = None,
) -> SceneSpec:
    """Draw a scene from the billboard envelope.

    By default about 15 % of scenes are empty rooms (with distractors), 45 % hold one person, 25 % two
    and 15 % three to five, each with a behaviour from ``BEHAVIOURS``. ``people``, ``behaviours`` (one
    per person), ``ambient_c`` and ``distractors`` (False: none, True: at least one) pin those choices.
    """
    ta = _ambient_sample(rng) if ambient_c is None else float(ambient_c)
    height = float(rng.uniform(1.0, 2.2))
    tilt = float(rng.uniform(0.0, 30.0))
    depth = float(rng.uniform(4.0, 8.0))
    floor = -rng.uniform(0.3, 1.5) if rng.random() > 0.05 else rng.uniform(1.0, 3.0)
    room = RoomSpec(
        depth_m=depth,
        left_m=float(depth * rng.uniform(0.45, 1.0)),
        right_m=float(depth * rng.uniform(0.45, 1.0)),
        ceiling_m=float(max(height + 0.4, rng.uniform(2.5, 3.5))),
        floor_delta_c=float(floor),
        ceiling_delta_c=float(rng.uniform(0.3, 1.5)),
        wall_delta_c=(float(rng.normal(0, 0.3)), float(rng.normal(0, 0.3)), float(rng.normal(0, 0.3))),
        wall_gradient_c_per_m=float(rng.uniform(0.1, 0.6)),
        texture_c=float(rng.uniform(0.1, 0.4)),
        texture_seed=int(rng.integers(2**31)),
    )
    if behaviours is None:
        if people is None:
            people = int(rng.choice([0, 1, 2, 3, 4, 5], p=[0.15, 0.45, 0.25, 0.08, 0.05, 0.02]))
        chosen = [str(b) for b in rng.choice(BEHAVIOURS, size=people, p=BEHAVIOUR_WEIGHTS)]
    else:
        chosen = list(behaviours)
    furniture: list[BoxSpec] = []
    bench: BenchSpec | None = None
    if any(b in ("sit_bench", "sit_start") for b in chosen) or rng.random() < 0.2:
        bench = _make_bench(rng, depth, ta, furniture)
    table: BoxSpec | None = None
    if rng.random() < 0.25:
        yt = rng.uniform(2.0, max(2.1, depth - 1.0))
        xt = rng.uniform(-1, 1) * yt * 0.4
        table = BoxSpec(
            "table", (xt - 0.6, yt - 0.4, 0.72), (xt + 0.6, yt + 0.4, 0.76), float(rng.uniform(-0.5, 0.3))
        )
        furniture.append(table)
    if rng.random() < 0.2:
        xc = rng.uniform(-1, 1) * depth * 0.4
        furniture.append(
            BoxSpec(
                "cabinet",
                (xc - 0.5, depth - 0.45, 0.0),
                (xc + 0.5, depth, rng.uniform(0.8, 2.0)),
                float(rng.uniform(-0.5, 0.2)),
            )
        )
    if distractors is False:
        dis: list[DistractorSpec] = []
    else:
        dis = _distractors(rng, seconds, ta, room, table, at_least_one=bool(distractors) or not chosen)
    ctx = _Ctx(rng, seconds, ta, depth, bench)
    builders = {
        "pass": _b_pass,
        "stop_watch": _b_stop_watch,
        "approach_watch": _b_approach_watch,
        "stand": _b_stand,
        "toward": _b_toward,
        "away": _b_away,
        "sit_bench": _b_sit_bench,
        "sit_start": _b_sit_start,
        "fall": _b_fall,
        "lying_start": _b_lying_start,
    }
    persons: list[PersonSpec] = []
    for beh in chosen:
        if beh == "wheelchair":
            persons.append(_b_pass(ctx, True) if rng.random() < 0.5 else _b_approach_watch(ctx, True))
        elif beh == "pass" and persons and persons[-1].behaviour == "pass" and rng.random() < 0.4:
            persons.append(_companion(ctx, persons[-1]))
        else:
            persons.append(builders[beh](ctx))
    sensor = SensorSpec(
        noise_rms_c=float(rng.uniform(0.13, 0.17)),
        psf_sigma_px=float(rng.uniform(0.3, 0.5)),
        fpn_rms_c=float(rng.uniform(0.08, 0.15)),
        gain_rms=0.01,
        self_heat_c=float(rng.uniform(1.5, 4.5)),
        seed=int(rng.integers(2**31)),
    )
    kind = "empty" if not persons else f"{len(persons)} people: " + ", ".join(p.behaviour for p in persons)
    return SceneSpec(
        seconds=float(seconds),
        fps=float(fps),
        height_m=height,
        tilt_deg=tilt,
        ambient_c=ta,
        drift_c_per_s=float(rng.uniform(-1.0, 1.0) / 600.0),
        hvac_amp_c=float(rng.uniform(0.0, 0.15)),
        hvac_period_s=float(rng.uniform(300.0, 900.0)),
        room=room,
        sensor=sensor,
        noise_seed=int(rng.integers(2**31)),
        furniture=furniture,
        bench=bench,
        distractors=dis,
        people=persons,
        kind=kind,
    )


def _make_bench(rng: np.random.Generator, depth: float, ta: float, furniture: list[BoxSpec]) -> BenchSpec:
    yb = float(rng.uniform(1.3, max(1.4, min(3.5, depth - 1.0))))
    xb = float(rng.uniform(-0.5, 0.5) * yb * math.tan(math.radians(30.0)))
    length = float(rng.uniform(1.2, 1.8))
    seat = float(rng.uniform(0.42, 0.48))
    back = bool(rng.random() < 0.6)
    delta = float(rng.uniform(-0.6, 0.2))
    if rng.random() < 0.7:
        axis, yaw = "x", -math.pi / 2
        furniture.append(
            BoxSpec("bench", (xb - length / 2, yb - 0.21, 0.0), (xb + length / 2, yb + 0.21, seat), delta)
        )
        if back:
            furniture.append(
                BoxSpec(
                    "bench_back",
                    (xb - length / 2, yb + 0.17, seat),
                    (xb + length / 2, yb + 0.23, seat + 0.42),
                    delta,
                )
            )
    else:
        axis = "y"
        side = float(rng.choice([-1.0, 1.0]))
        yaw = 0.0 if side > 0 else math.pi
        furniture.append(
            BoxSpec("bench", (xb - 0.21, yb - length / 2, 0.0), (xb + 0.21, yb + length / 2, seat), delta)
        )
        if back:
            bx = xb - side * 0.2
            furniture.append(
                BoxSpec(
                    "bench_back",
                    (bx - 0.03, yb - length / 2, seat),
                    (bx + 0.03, yb + length / 2, seat + 0.42),
                    delta,
                )
            )
    return BenchSpec(xb, yb, length, seat, axis, yaw, back, delta)


def simple_scene(
    ambient_c: float,
    distance_m: float | None,
    seconds: float = 3.0,
    *,
    fps: float = 10.0,
    height_m: float = 1.5,
    tilt_deg: float = 10.0,
    seed: int = 0,
) -> SceneSpec:
    """A plain room (no furniture, no distractors) with one adult standing facing the sensor on axis at
    ``distance_m``, or nobody; for tests and calibration tables."""
    rng = np.random.default_rng(seed)
    spec = random_scene(rng, seconds, fps, people=0, ambient_c=ambient_c, distractors=False)
    spec.height_m, spec.tilt_deg = height_m, tilt_deg
    spec.room.depth_m = max(spec.room.depth_m, 6.0)
    spec.room.ceiling_m = max(spec.room.ceiling_m, height_m + 0.4)
    spec.drift_c_per_s = 0.0
    spec.room.floor_delta_c, spec.room.ceiling_delta_c = -0.8, 0.8
    spec.room.wall_delta_c, spec.room.wall_gradient_c_per_m = (0.0, 0.0, 0.0), 0.3
    spec.furniture, spec.bench, spec.distractors = [], None, []
    if distance_m is not None:
        ctx = _Ctx(rng, seconds, ambient_c, spec.room.depth_m, None)
        person = _person(
            ctx,
            "stand",
            -1.0,
            0.0,
            distance_m,
            -math.pi / 2,
            [Action("stand", duration_s=1e9)],
            height_m=1.75,
            build=1.0,
            arms_bare=False,
            legs_bare=False,
            glance_deg=0.0,
        )
        spec.people = [person]
        spec.kind = f"1 person standing at {distance_m:g} m"
    else:
        spec.kind = "empty"
    return spec


# -- trace files ------------------------------------------------------------------------------------


def _note(spec: SceneSpec) -> str:
    dis = ", ".join(
        f"{d.kind}({'on' if d.on_at_s < 0 else 'off' if math.isinf(d.on_at_s) else f'on@{d.on_at_s:.0f}s'})"
        for d in spec.distractors
    )
    bench = "bench" if spec.bench else "no bench"
    return f"{spec.kind}; {bench}; distractors: {dis or 'none'}; back wall {spec.room.depth_m:.1f} m"


def _num(v: float) -> str:
    return f"{v:g}"


def write_trace(path: Path, result: SimResult, spec: SceneSpec) -> Path:
    """Write a heatcast trace (format version 1); gzip-compressed (reproducibly) if the name ends .gz."""
    path = Path(path)
    out = io.StringIO()
    for line in (
        "# heatcast-trace: 1",
        "# sensor: amg8833",
        f"# fps: {_num(spec.fps)}",
        "# mount: wall",
        f"# height_m: {spec.height_m:.2f}",
        f"# tilt_deg: {spec.tilt_deg:.1f}",
        "# source: heatcast tests/indsim (independent simulator)",
        f"# ambient_c: {spec.ambient_c:.2f}",
        f"# note: {_note(spec)}",
    ):
        out.write(line + "\n")
    pix_cols = [f"p{r}{c}" for r in range(ROWS) for c in range(COLS)]
    out.write(
        ",".join(
            [
                "t",
                "thermistor",
                *pix_cols,
                "count",
                "presence",
                "posture",
                "orientation",
                "distance_m",
                "since_start",
            ]
        )
        + "\n"
    )
    flat = result.pixels.reshape(len(result.t), -1)
    for k in range(len(result.t)):
        dist = "" if math.isnan(result.distance_m[k]) else f"{result.distance_m[k]:.2f}"
        cells = [
            f"{result.t[k]:.3f}",
            f"{result.thermistor[k]:.4f}",
            *(f"{v:.2f}" for v in flat[k]),
            str(int(result.count[k])),
            "1" if result.count[k] > 0 else "0",
            result.posture[k],
            result.orientation[k],
            dist,
            "1" if result.since_start[k] else "0",
        ]
        out.write(",".join(cells) + "\n")
    data = out.getvalue().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
    return path


def generate(folder: Path, seed: int, scenes: int, seconds: float = 60.0) -> list[Path]:
    """Render ``scenes`` random scenes into ``folder``; the same seed gives the same files."""
    folder = Path(folder)
    paths: list[Path] = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(scenes)):
        spec = random_scene(np.random.default_rng(child), seconds)
        paths.append(write_trace(folder / f"indsim-{seed}-{i:04d}.csv.gz", render(spec), spec))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write independent simulated AMG8833 billboard traces.")
    parser.add_argument("--out", type=Path, required=True, help="folder for the .csv.gz traces")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenes", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for i, child in enumerate(np.random.SeedSequence(args.seed).spawn(args.scenes)):
        start = time.perf_counter()
        spec = random_scene(np.random.default_rng(child), args.seconds)
        path = write_trace(args.out / f"indsim-{args.seed}-{i:04d}.csv.gz", render(spec), spec)
        print(f"{path}  {time.perf_counter() - start:.2f} s  {spec.ambient_c:.1f} C  {spec.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scenes for the simulator: the room, its warm and cold things, the air's drift,
the sensor's imperfections, and the people who come and go.

A :class:`Scene` is plain data. People follow scripts (:class:`Visit`, a list of
keyframes: where, which way, which posture); a :class:`Crowd` makes up new
visits as time goes on, so that a random scene runs for ever without repeating.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from heatcast.errors import UsageError
from heatcast.sensor.sim_body import (
    LYING,
    SITTING,
    STANDING,
    Appearance,
    Pose,
    random_appearance,
)
from heatcast.sensor.sim_render import Box

HALF_FOV = math.radians(30.0)
TAU = 2 * math.pi


# --------------------------------------------------------------------------- room
@dataclass(frozen=True, slots=True)
class Thing:
    """A static object: a radiator, screen, lamp, window, cup, table...

    ``temp_c`` is its surface temperature when on: absolute, or a difference
    from the room's ambient when ``relative``. Switching things are on for
    ``duty`` of every ``period_s``; a cooling thing (a hot drink) relaxes towards
    ambient with time constant ``cool_tau_s``.
    """

    kind: str
    box: Box
    temp_c: float
    relative: bool = False
    off_delta_c: float = 0.0
    period_s: float = 0.0
    duty: float = 1.0
    phase_s: float = 0.0
    cool_tau_s: float = 0.0
    ramp_s: float = 0.0  # switching takes this long (a radiator warms in minutes, a screen at once)

    def level(self, t: float) -> float:
        """How far on the thing is, 0..1."""
        if self.period_s <= 0:
            return 1.0
        x = (t + self.phase_s) % self.period_s
        on = self.duty * self.period_s
        ramp = min(self.ramp_s, 0.5 * on, 0.5 * (self.period_s - on))
        if ramp <= 0:
            return 1.0 if x < on else 0.0
        if x < on:
            return min(1.0, x / ramp)
        return max(0.0, 1.0 - (x - on) / ramp)

    def temperature(self, t: float, ambient_c: float) -> float:
        temp = ambient_c + self.temp_c if self.relative else self.temp_c
        if self.cool_tau_s > 0:
            temp = ambient_c + (temp - ambient_c) * math.exp(-max(t, 0.0) / self.cool_tau_s)
        off = ambient_c + self.off_delta_c
        return off + self.level(t) * (temp - off)


@dataclass(frozen=True, slots=True)
class Room:
    mount: str = "wall"  # "wall" or "ceiling"
    height_m: float = 2.0  # the sensor's height
    tilt_deg: float = 15.0  # downward tilt (90 = straight down)
    sensor_y_m: float = 0.0  # distance of the sensor from the front wall (ceiling mounts)
    depth_m: float = 6.0  # back wall
    left_m: float = 3.0  # side walls at x = -left and x = +right
    right_m: float = 3.0
    ceiling_m: float = 2.8
    ambient_c: float = 22.0  # air at 1.5 m
    gradient_c_per_m: float = 1.0  # the air: warmer towards the ceiling
    surface_gradient_share: float = 0.7  # walls show part of the air's gradient
    floor_delta_c: float = -1.0
    ceiling_delta_c: float = 0.0
    wall_deltas_c: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # back, left, right, front
    texture_c: float = 0.2  # smooth unevenness of the surfaces
    things: tuple[Thing, ...] = ()

    @property
    def sensor(self) -> tuple[float, float, float]:
        return (0.0, self.sensor_y_m, self.height_m)


@dataclass(frozen=True, slots=True)
class Drift:
    """Air temperature over time: slow swings plus, in some rooms, an HVAC cycle."""

    slow: tuple[tuple[float, float, float], ...] = ()  # (amplitude C, period s, phase rad)
    hvac_c: float = 0.0  # peak-to-peak of the HVAC saw-tooth
    hvac_period_s: float = 1200.0
    hvac_phase_s: float = 0.0
    surface_follow: float = 0.6  # how much of the air's swing the walls show

    def air(self, t: float) -> float:
        d = 0.0
        for amp, period, phase in self.slow:
            d += amp * math.sin(TAU * t / period + phase)
        if self.hvac_c > 0:
            x = ((t + self.hvac_phase_s) % self.hvac_period_s) / self.hvac_period_s
            # heating on for a third of the cycle, then a slow cool-down
            d += self.hvac_c * ((x / 0.33) if x < 0.33 else (1.0 - (x - 0.33) / 0.67)) - 0.5 * self.hvac_c
        return d


@dataclass(frozen=True, slots=True)
class SensorModel:
    """The AMG8833's imperfections (datasheet figures, per sensor)."""

    noise_c: float = 0.15  # RMS temporal noise per pixel at 10 fps (NETD 0.16 C @ 10 Hz)
    common_noise_c: float = 0.03  # frame-wide flicker
    fpn_c: float = 0.3  # RMS of the fixed per-pixel offsets
    vignette_c: float = 0.0  # extra offset at the corners (edge pixels read off)
    psf_sigma_px: float = 0.55  # optics blur
    gain: float = 0.95  # scene contrast against the board temperature
    offset_c: float = 0.0  # whole-frame calibration error (accuracy is +-2.5 C)
    self_heating_c: float = 2.5  # board above ambient (ESP32 boards run hotter, 4-5 C)
    warmup_s: float = 0.0  # > 0: powered on at t = 0; self-heating builds up with this time constant
    thermistor_tau_s: float = 600.0
    #: the AMG88xx "twice moving average" mode: each output averages two frames
    moving_average: bool = False

    def noise_at(self, fps: float) -> float:
        """Temporal noise at ``fps``: at 1 fps, / sqrt(10) (as ten frames averaged; see sim.py)."""
        return self.noise_c * math.sqrt(min(max(fps, 0.1), 10.0) / 10.0)


# --------------------------------------------------------------------------- people
@dataclass(frozen=True, slots=True)
class Key:
    """Where a person is at time ``t`` (seconds of scene time)."""

    t: float
    x: float
    y: float
    yaw: float
    posture: int = STANDING
    seat_z: float = 0.45
    roll: float = 0.0


@dataclass(frozen=True, slots=True)
class Residue:
    """A warm patch a person left on a seat or the floor, cooling towards ambient."""

    t0: float
    x: float
    y: float
    z: float
    rx: float  # half-size across the body
    ry: float  # half-size along it
    yaw: float
    delta_c: float  # above ambient at t0
    tau_s: float

    def excess(self, t: float) -> float:
        return self.delta_c * math.exp(-(t - self.t0) / self.tau_s) if t >= self.t0 else 0.0


@dataclass(frozen=True, slots=True)
class Visit:
    """One person's stay: appearance and keyframes (linear between keys)."""

    appearance: Appearance
    keys: tuple[Key, ...]
    _times: tuple[float, ...] = field(default=(), repr=False, compare=False)
    _dist: tuple[float, ...] = field(default=(), repr=False, compare=False)
    residues: tuple[Residue, ...] = field(default=(), repr=False, compare=False)
    _fidget: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        # Nobody holds still: postural sway, shifting weight, a glance aside.
        # Phases and periods come from the visit itself, so a scene stays reproducible.
        k0 = self.keys[0]
        seed = hashlib.blake2b(repr((k0.t, k0.x, k0.y, k0.yaw, self.appearance.height_m)).encode(),
                               digest_size=8).digest()  # fmt: skip
        u = np.random.default_rng(int.from_bytes(seed, "little")).random(8).tolist()
        object.__setattr__(self, "_fidget", (
            3.0 + 5.0 * u[0], 10.0 + 15.0 * u[1], 4.0 + 8.0 * u[2], 6.0 + 10.0 * u[3],
            TAU * u[4], TAU * u[5], TAU * u[6], TAU * u[7],
        ))  # fmt: skip
        times = tuple(k.t for k in self.keys)
        dist = [0.0]
        for a, b in zip(self.keys, self.keys[1:], strict=False):
            dist.append(dist[-1] + math.hypot(b.x - a.x, b.y - a.y))
        object.__setattr__(self, "_times", times)
        object.__setattr__(self, "_dist", tuple(dist))
        object.__setattr__(self, "residues", self._residues())

    def _residues(self) -> tuple[Residue, ...]:
        """Warm patches left where the person sat or lay (a seat stays warm for minutes)."""
        out = []
        since: float | None = None
        for a, b in zip(self.keys, self.keys[1:], strict=False):
            if b.posture != STANDING and a.posture == STANDING:
                since = b.t
            elif b.posture == STANDING and a.posture != STANDING:
                held = b.t - (since if since is not None else self.keys[0].t)
                build = 1.0 - math.exp(-max(held, 0.0) / 240.0)
                s, c = math.sin(a.yaw), math.cos(a.yaw)
                if a.posture == SITTING:
                    out.append(Residue(b.t, a.x + 0.12 * s, a.y + 0.12 * c, a.seat_z + 0.01, 0.2, 0.2,
                                       a.yaw, 6.0 * build, 150.0))  # fmt: skip
                else:
                    half = 0.8 * self.appearance.height_m / 1.75
                    out.append(Residue(b.t, a.x, a.y, a.seat_z + 0.01, 0.2, half, a.yaw, 4.0 * build, 200.0))
                since = None
        return tuple(out)

    @property
    def until(self) -> float:
        """When this visit stops mattering (its warm patches have cooled too)."""
        return max([self.end, *(r.t0 + 5 * r.tau_s for r in self.residues)])

    @property
    def start(self) -> float:
        return self.keys[0].t

    @property
    def end(self) -> float:
        return self.keys[-1].t

    def pose(self, t: float) -> Pose | None:
        keys = self.keys
        if t < keys[0].t or t > keys[-1].t:
            return None
        i = bisect.bisect_right(self._times, t) - 1
        i = min(max(i, 0), len(keys) - 2) if len(keys) > 1 else 0
        a = keys[i]
        b = keys[i + 1] if len(keys) > 1 else a
        span = b.t - a.t
        f = 0.0 if span <= 0 else min(max((t - a.t) / span, 0.0), 1.0)
        dx, dy = b.x - a.x, b.y - a.y
        moving = span > 0 and (dx * dx + dy * dy) > 1e-4
        speed = math.hypot(dx, dy) / span if moving else 0.0
        dyaw = (b.yaw - a.yaw + math.pi) % TAU - math.pi
        dist = self._dist[i] + f * (self._dist[i + 1] - self._dist[i]) if len(keys) > 1 else 0.0
        stride = 0.75 * self.appearance.height_m / 1.75
        fx, fy, fyaw = self._sway(t, b.posture)
        return Pose(
            x=a.x + f * dx + fx,
            y=a.y + f * dy + fy,
            yaw=a.yaw + f * dyaw + fyaw,
            from_posture=a.posture,
            to_posture=b.posture,
            blend=f if a.posture != b.posture else 1.0,
            seat_z=b.seat_z if b.posture != STANDING else a.seat_z,
            roll=b.roll if b.posture == LYING else a.roll,
            gait_phase=math.pi * dist / stride,
            gait_amp=0.38 * min(1.0, speed / 1.3) if moving else 0.0,
        )

    def _sway(self, t: float, posture: int) -> tuple[float, float, float]:
        """Small movements (m, m, rad) added to every pose: they matter while
        the person stands, sits or lies still (the gait dwarfs them on the move).

        Standing sway is a few cm (postural control) plus slow shifts of weight;
        a seated person leans and gestures a little more, someone lying shifts
        least; each also glances aside now and then.
        """
        p1, p2, p3, p4, a, b, c, d = self._fidget
        amp, turn = SWAY.get(posture, SWAY[STANDING])
        w = TAU * t
        fx = amp * (0.6 * math.sin(w / p1 + a) + math.sin(w / p2 + b))
        fy = amp * 0.7 * (math.sin(w / p3 + c) + 0.5 * math.sin(w / p2 + d))
        return fx, fy, turn * math.sin(w / p4 + a + c)


#: Per posture: sway amplitude (m) and glance amplitude (rad).
SWAY = {STANDING: (0.03, 0.15), SITTING: (0.04, 0.2), LYING: (0.02, 0.08)}


def heading(x0: float, y0: float, x1: float, y1: float) -> float:
    return math.atan2(x1 - x0, y1 - y0)


def toward_screen(x: float, y: float) -> float:
    """The yaw that faces the billboard (the sensor's wall, at x = 0)."""
    return heading(x, y, 0.0, 0.0)


class Script:
    """Builds a visit's keyframes step by step."""

    def __init__(self, t: float, x: float, y: float, yaw: float) -> None:
        self.keys: list[Key] = [Key(t, x, y, yaw)]

    @property
    def last(self) -> Key:
        return self.keys[-1]

    @property
    def t(self) -> float:
        return self.last.t

    def _add(self, dt: float, **change: Any) -> Script:
        k = self.last
        self.keys.append(replace(k, t=k.t + max(dt, 1e-3), **change))
        return self

    def turn(self, yaw: float, seconds: float = 0.7) -> Script:
        dyaw = abs((yaw - self.last.yaw + math.pi) % TAU - math.pi)
        if dyaw < 0.05:
            return self
        return self._add(seconds * max(0.3, dyaw / math.pi), yaw=yaw)

    def walk(self, x: float, y: float, speed: float) -> Script:
        k = self.last
        d = math.hypot(x - k.x, y - k.y)
        if d < 0.01:
            return self
        yaw = heading(k.x, k.y, x, y)
        self.turn(yaw, 0.5)
        return self._add(d / speed, x=x, y=y, yaw=yaw)

    def wait(self, seconds: float) -> Script:
        return self._add(seconds)

    def posture(self, posture: int, seconds: float = 1.5, seat_z: float | None = None,
                roll: float | None = None) -> Script:  # fmt: skip
        change: dict[str, Any] = {"posture": posture}
        if seat_z is not None:
            change["seat_z"] = seat_z
        if roll is not None:
            change["roll"] = roll
        return self._add(seconds, **change)

    def build(self, appearance: Appearance) -> Visit:
        return Visit(appearance, tuple(self.keys))


# --------------------------------------------------------------------------- crowd
BEHAVIOURS = ("pass", "stop", "sit", "lie", "approach", "away", "browse")


@dataclass(frozen=True, slots=True)
class Crowd:
    """Random arrivals of people and groups, and what they do."""

    rate_per_min: float = 1.5  # group arrivals
    group_weights: tuple[float, ...] = (0.6, 0.25, 0.1, 0.05)  # sizes 1, 2, 3, 4
    behaviours: tuple[float, ...] = (0.3, 0.3, 0.12, 0.05, 0.1, 0.05, 0.08)  # as BEHAVIOURS
    dwell_median_s: float = 15.0
    dwell_sigma: float = 1.0
    p_face: float = 0.75  # a person who stops faces the screen
    p_child: float = 0.05
    max_people: int = 6
    initial_people: int = 0  # already in view at the start
    near_m: float = 0.8  # where people walk and stand
    far_m: float = 5.0
    speed: tuple[float, float] = (0.6, 1.6)


def _lognormal(rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float) -> float:
    return float(np.clip(median * math.exp(sigma * rng.standard_normal()), lo, hi))


class CrowdRunner:
    """Makes up visits in time order, for ever, for one scene."""

    def __init__(self, crowd: Crowd, room: Room, seed: int) -> None:
        self.crowd = crowd
        self.room = room
        self.rng = np.random.default_rng([seed, 7])
        self.visits: list[Visit] = []
        self.next_t = 0.0
        for _ in range(crowd.initial_people):
            self._group(-float(self.rng.uniform(2.0, 40.0)), 1, initial=True)
        self.next_t = float(self.rng.exponential(60.0 / max(crowd.rate_per_min, 1e-3)))

    def active(self, t: float) -> list[Visit]:
        while self.next_t <= t + 1.0:
            self._arrival(self.next_t)
            self.next_t += float(self.rng.exponential(60.0 / max(self.crowd.rate_per_min, 1e-3)))
        self.visits = [v for v in self.visits if v.until >= t - 1.0]
        return [v for v in self.visits if v.start <= t <= v.until]

    def _arrival(self, t: float) -> None:
        c = self.crowd
        w = np.asarray(c.group_weights, dtype=float)
        size = int(self.rng.choice(len(w), p=w / w.sum())) + 1
        # everyone not yet gone, including group members still a step behind
        present = sum(1 for v in self.visits if v.end >= t)
        size = min(size, c.max_people - present)
        if size <= 0:
            return
        self._group(t, size)

    # -- geometry helpers ----------------------------------------------------
    def _depth_range(self) -> tuple[float, float]:
        r = self.room
        far = min(self.crowd.far_m, r.depth_m - 0.4)
        near = self.crowd.near_m
        if r.mount == "ceiling":
            # under a ceiling sensor the view is a small patch around it
            near, far = max(0.3, r.sensor_y_m - 1.2), min(r.depth_m - 0.4, r.sensor_y_m + 1.6)
        return near, max(far, near + 0.2)

    def _half_width(self, y: float) -> float:
        r = self.room
        if r.mount == "ceiling":
            return 0.9
        return max(0.2, y * math.tan(HALF_FOV))

    def _spot(self, y: float | None = None, spread: float = 1.0) -> tuple[float, float]:
        near, far = self._depth_range()
        if y is None:
            y = float(self.rng.uniform(near, far))
        x = float(self.rng.uniform(-1, 1)) * self._half_width(y) * spread
        return x, y

    def _edge_x(self, y: float, side: int) -> float:
        r = self.room
        x = side * (self._half_width(y) + 1.0 + float(self.rng.uniform(0.0, 0.8)))
        return float(np.clip(x, -r.left_m + 0.3, r.right_m - 0.3))

    def _speed(self) -> float:
        lo, hi = self.crowd.speed
        return float(np.clip(self.rng.normal(0.5 * (lo + hi), 0.25 * (hi - lo)), lo, hi))

    def _appearance(self) -> Appearance:
        return random_appearance(self.rng, child=self.rng.random() < self.crowd.p_child)

    def _dwell(self) -> float:
        return _lognormal(self.rng, self.crowd.dwell_median_s, self.crowd.dwell_sigma, 2.0, 900.0)

    def _stop_yaw(self, x: float, y: float) -> float:
        u = self.rng.random()
        face = toward_screen(x, y)
        if u < self.crowd.p_face:
            return face + float(self.rng.normal(0.0, 0.25))
        if u < self.crowd.p_face + 0.5 * (1 - self.crowd.p_face):
            return face + float(self.rng.choice((-1, 1))) * float(self.rng.uniform(1.2, 1.9))
        return face + math.pi + float(self.rng.normal(0.0, 0.3))

    # -- behaviours ------------------------------------------------------------
    def _group(self, t: float, size: int, initial: bool = False) -> None:
        w = np.asarray(self.crowd.behaviours, dtype=float)
        if initial:
            w = w * np.array([0, 1, 1, 1, 0, 0, 1])
        if self.room.mount == "ceiling":
            w = w * np.array([1, 1, 0.3, 0.3, 0, 1, 1])
        kind = BEHAVIOURS[int(self.rng.choice(len(w), p=w / w.sum()))]
        side = int(self.rng.choice((-1, 1)))
        near, far = self._depth_range()
        y = float(self.rng.uniform(near, far))
        speed = self._speed()
        dwell = self._dwell()
        leave_side = side if self.rng.random() < 0.4 else -side
        spots = self._group_spots(size)
        # some groups that stop talk among themselves rather than watch the screen
        talking = size > 1 and kind == "stop" and self.rng.random() < 0.3
        mid_x = sum(x for x, _ in spots) / size
        mid_y = sum(y for _, y in spots) / size
        for i in range(size):
            delay = i * float(self.rng.uniform(0.6, 1.6))
            a = self._appearance()
            s_speed = speed * float(self.rng.uniform(0.95, 1.05))
            if kind == "pass":
                dy = float(self.rng.uniform(-0.3, 0.3)) * (i % 2) * 2
                yy = float(np.clip(y + dy + float(self.rng.normal(0, 0.1)), near, far))
                y2 = float(np.clip(yy + float(self.rng.normal(0, 0.4)), near, far))
                s = Script(t + delay, self._edge_x(yy, side), yy, 0.0)
                s.walk(self._edge_x(y2, -side), y2, s_speed)
            elif kind == "approach":
                x0, y0 = self._edge_x(far, side), far
                x1, y1 = spots[i][0] * 0.5, max(near, 0.9 + 0.5 * i)
                s = Script(t + delay, x0, y0, 0.0)
                s.walk(x1, y1, s_speed * 0.8)
                s.turn(toward_screen(x1, y1)).wait(min(dwell, 20.0))
                s.walk(self._edge_x(y1, leave_side), y1 + 0.3, s_speed)
            elif kind == "away":
                x0, y0 = float(self.rng.uniform(-0.6, 0.6)), 0.3
                x1, y1 = float(self.rng.uniform(-1, 1)) * self._half_width(far) * 0.6, far
                s = Script(t + delay, x0, y0, 0.0)
                s.walk(x1, y1, s_speed * 0.9)
                if self.rng.random() < 0.5:
                    s.wait(min(dwell, 15.0))
                s.walk(self._edge_x(y1, leave_side), y1, s_speed)
            elif kind == "browse":
                x, yy = spots[i]
                s = Script(t + delay, self._edge_x(yy, side), yy, 0.0)
                s.walk(x, yy, s_speed * 0.7)
                for _ in range(int(self.rng.integers(2, 5))):
                    s.turn(self._stop_yaw(s.last.x, s.last.y)).wait(self._dwell() * 0.4)
                    nx, ny = self._spot()
                    s.walk(nx, ny, s_speed * 0.5)
                s.walk(self._edge_x(s.last.y, leave_side), s.last.y, s_speed)
            else:
                x, yy = spots[i]
                yaw = self._stop_yaw(x, yy)
                if talking:
                    yaw = heading(x, yy, mid_x, mid_y) + float(self.rng.normal(0.0, 0.3))
                at_table = self._table_seat() if kind == "sit" else None
                if at_table is not None:
                    x, yy, yaw = at_table
                if initial:
                    s = Script(t, x, yy, yaw)
                else:
                    s = Script(t + delay, self._edge_x(yy, side), yy, 0.0)
                    s.walk(x, yy, s_speed)
                    s.turn(yaw)
                stay = dwell * float(self.rng.uniform(0.8, 1.25))
                if initial:
                    stay = max(stay, -t + float(self.rng.uniform(5.0, 60.0)))
                if kind == "stop":
                    self._dwell_standing(s, stay)
                elif kind == "sit":
                    seat = float(self.rng.uniform(0.4, 0.5))
                    if not initial:
                        s.posture(SITTING, float(self.rng.uniform(1.2, 2.2)), seat_z=seat)
                    else:
                        s.keys[0] = replace(s.keys[0], posture=SITTING, seat_z=seat)
                    self._dwell_still(s, stay * 2.0)
                    s.posture(STANDING, float(self.rng.uniform(1.2, 2.0)))
                else:  # lie
                    surface = 0.0 if self.rng.random() < 0.6 else float(self.rng.uniform(0.4, 0.5))
                    roll = (
                        0.0
                        if self.rng.random() < 0.5
                        else float(self.rng.choice((-1, 1))) * float(self.rng.uniform(1.2, 1.6))
                    )
                    s.turn(float(self.rng.uniform(-math.pi, math.pi)))
                    if not initial:
                        s.posture(LYING, float(self.rng.uniform(2.0, 3.5)), seat_z=surface, roll=roll)
                    else:
                        k0 = s.keys[-1]
                        s.keys = [replace(k0, t=t, posture=LYING, seat_z=surface, roll=roll)]
                    self._dwell_still(s, stay * 2.5)
                    s.posture(STANDING, float(self.rng.uniform(2.0, 3.5)))
                s.walk(self._edge_x(s.last.y, leave_side), s.last.y, s_speed)
            self.visits.append(s.build(a))

    def _table_seat(self) -> tuple[float, float, float] | None:
        """A seat at one of the room's tables: behind it facing the screen (the
        table hides the legs), or in front of it with the back to the screen."""
        tables = [th.box for th in self.room.things if th.kind == "table"]
        if not tables or self.rng.random() < 0.4:
            return None
        box = tables[int(self.rng.integers(len(tables)))]
        x = float(self.rng.uniform(box.lo[0] + 0.2, max(box.lo[0] + 0.21, box.hi[0] - 0.2)))
        behind = box.hi[1] + 0.35
        if self.rng.random() < 0.65 and behind < self.room.depth_m - 0.3:
            return x, behind, toward_screen(x, behind) + float(self.rng.normal(0.0, 0.2))
        front = box.lo[1] - 0.35
        return x, front, toward_screen(x, front) + math.pi + float(self.rng.normal(0.0, 0.3))

    def _group_spots(self, size: int) -> list[tuple[float, float]]:
        """Where a group stands: together, each 0.6..1.2 m from someone already placed."""
        near, far = self._depth_range()
        spots = [self._spot()]
        tries = 0
        while len(spots) < size:
            tries += 1
            ax, ay = spots[int(self.rng.integers(len(spots)))]
            angle = float(self.rng.uniform(0, 2 * math.pi))
            r = float(self.rng.uniform(0.6, 1.2))
            x, y = ax + r * math.cos(angle), ay + r * math.sin(angle)
            y = min(max(y, near), far)
            width = self._half_width(y) * 1.1
            x = min(max(x, -width), width)
            if tries > 200 or all(math.hypot(x - a, y - b) > 0.55 for a, b in spots):
                spots.append((x, y))
        return spots

    def _dwell_standing(self, s: Script, stay: float) -> None:
        """Standing a while: small sways, now and then a look aside, maybe a seat."""
        end = s.t + stay
        base_yaw = s.last.yaw
        while s.t < end:
            u = self.rng.random()
            if u < 0.08:
                # a look back over the shoulder at something behind
                s.turn(base_yaw + math.pi + float(self.rng.normal(0, 0.3)))
            elif u < 0.25:
                s.turn(base_yaw + float(self.rng.normal(0, 0.9)))
            elif u < 0.32 and stay > 20:
                s.posture(SITTING, 1.5, seat_z=float(self.rng.uniform(0.4, 0.5)))
                s.wait(float(self.rng.uniform(5, 30)))
                s.posture(STANDING, 1.5)
            else:
                s.turn(base_yaw + float(self.rng.normal(0, 0.15)))
            s.wait(float(self.rng.uniform(2.0, 12.0)))
            x = s.last.x + float(self.rng.normal(0, 0.04))
            s._add(0.8, x=x)

    def _dwell_still(self, s: Script, stay: float) -> None:
        end = s.t + stay
        while s.t < end:
            s.wait(float(self.rng.uniform(3.0, 20.0)))
            if self.rng.random() < 0.2 and s.last.posture != LYING:
                s.turn(s.last.yaw + float(self.rng.normal(0, 0.5)))


# --------------------------------------------------------------------------- scene
@dataclass(frozen=True, slots=True)
class Scene:
    """Everything the simulator needs to render a sequence of frames."""

    name: str = "scene"
    room: Room = field(default_factory=Room)
    drift: Drift = field(default_factory=Drift)
    sensor: SensorModel = field(default_factory=SensorModel)
    visits: tuple[Visit, ...] = ()
    crowd: Crowd | None = None
    loop_s: float | None = None
    seed: int = 0

    def describe(self) -> str:
        r = self.room
        return (
            f"{self.name}: {r.mount} mount {r.height_m:.2f} m tilt {r.tilt_deg:.0f} deg, "
            f"room {r.depth_m:.1f} m deep, ambient {r.ambient_c:.1f} C, "
            f"{len(r.things)} things ({', '.join(t.kind for t in r.things) or 'none'}), "
            f"noise {self.sensor.noise_c:.2f} C"
        )


class People:
    """The visits a scene has at a given time (scripted, looped, or random)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.runner = CrowdRunner(scene.crowd, scene.room, scene.seed) if scene.crowd else None

    def at(self, t: float) -> Iterator[Visit]:
        for v in self.scene.visits:
            if v.start <= t <= v.until:
                yield v
        if self.runner is not None:
            yield from self.runner.active(t)


# --------------------------------------------------------------------------- random
THING_KINDS = ("radiator", "screen", "lamp", "window", "cup", "heater", "table", "fridge", "sun")
THING_ODDS = (0.19, 0.2, 0.1, 0.16, 0.08, 0.07, 0.11, 0.05, 0.04)


def _things(rng: np.random.Generator, room: Room) -> tuple[Thing, ...]:
    things: list[Thing] = []
    d, left, right, ceil = room.depth_m, room.left_m, room.right_m, room.ceiling_m
    n = int(rng.choice(5, p=[0.25, 0.3, 0.25, 0.12, 0.08]))
    for _ in range(n):
        kind = str(rng.choice(THING_KINDS, p=THING_ODDS))
        x = float(rng.uniform(-left + 0.5, right - 0.5))
        if kind == "radiator":
            w = float(rng.uniform(0.6, 2.0))
            z = float(rng.uniform(0.1, 0.25))
            box = Box((x - w / 2, d - 0.12, z), (x + w / 2, d - 0.02, z + float(rng.uniform(0.4, 0.7))))
            period = float(rng.uniform(600, 3600)) if rng.random() < 0.25 else 0.0
            things.append(Thing(kind, box, float(rng.uniform(35, 60)), period_s=period,
                                duty=float(rng.uniform(0.3, 0.7)), phase_s=float(rng.uniform(0, 3600)),
                                off_delta_c=1.0, ramp_s=float(rng.uniform(120, 400))))  # fmt: skip
        elif kind == "screen":
            y = float(rng.uniform(1.5, d - 0.3))
            w = float(rng.uniform(0.4, 1.2))
            z = float(rng.uniform(0.75, 1.6))
            box = Box((x - w / 2, y, z), (x + w / 2, y + 0.06, z + w * 0.58))
            period = float(rng.uniform(120, 900)) if rng.random() < 0.2 else 0.0
            things.append(Thing(kind, box, float(rng.uniform(6, 15)), relative=True, period_s=period,
                                duty=0.5, phase_s=float(rng.uniform(0, 900)), off_delta_c=0.5))  # fmt: skip
        elif kind == "lamp":
            y = float(rng.uniform(1.0, d - 0.3))
            z = float(rng.uniform(0.8, ceil - 0.3))
            r = float(rng.uniform(0.04, 0.1))
            box = Box((x - r, y - r, z - r), (x + r, y + r, z + r))
            period = float(rng.uniform(60, 600)) if rng.random() < 0.3 else 0.0
            things.append(Thing(kind, box, float(rng.uniform(40, 80)), period_s=period,
                                duty=0.5, phase_s=float(rng.uniform(0, 600)), ramp_s=20.0))  # fmt: skip
        elif kind == "window":
            w = float(rng.uniform(0.8, 2.5))
            z = float(rng.uniform(0.6, 1.2))
            box = Box(
                (x - w / 2, d - 0.03, z), (x + w / 2, d, min(ceil - 0.1, z + float(rng.uniform(0.8, 1.6))))
            )
            delta = float(rng.uniform(-10, -2)) if rng.random() < 0.7 else float(rng.uniform(2, 8))
            things.append(Thing(kind, box, delta, relative=True))
        elif kind == "cup":
            y = float(rng.uniform(0.8, min(3.0, d - 0.3)))
            z = float(rng.uniform(0.7, 1.1))
            box = Box((x - 0.04, y - 0.04, z), (x + 0.04, y + 0.04, z + 0.1))
            things.append(
                Thing(kind, box, float(rng.uniform(50, 70)), cool_tau_s=float(rng.uniform(600, 1500)))
            )
        elif kind == "heater":
            y = float(rng.uniform(1.0, d - 0.3))
            box = Box((x - 0.25, y - 0.1, 0.0), (x + 0.25, y + 0.1, float(rng.uniform(0.4, 0.9))))
            period = float(rng.uniform(300, 1800)) if rng.random() < 0.5 else 0.0
            things.append(Thing(kind, box, float(rng.uniform(38, 55)), period_s=period, duty=0.5,
                                phase_s=float(rng.uniform(0, 1800)), off_delta_c=0.5,
                                ramp_s=60.0))  # fmt: skip
        elif kind == "table":
            y = float(rng.uniform(max(1.0, d - 2.0), d - 0.5))
            w = float(rng.uniform(0.8, 2.0))
            box = Box((x - w / 2, y - 0.4, 0.0), (x + w / 2, y + 0.4, float(rng.uniform(0.7, 1.05))))
            things.append(Thing(kind, box, float(rng.uniform(-0.5, 0.8)), relative=True))
        elif kind == "sun":
            # sunlight through a window warms a patch of floor; clouds come and go
            y = float(rng.uniform(1.0, max(1.1, d - 0.5)))
            sx, sy = float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))
            box = Box((x - sx / 2, y - sy / 2, 0.0), (x + sx / 2, y + sy / 2, 0.005))
            period = float(rng.uniform(60, 900)) if rng.random() < 0.6 else 0.0
            things.append(Thing(kind, box, float(rng.uniform(3, 10)), relative=True, period_s=period,
                                duty=float(rng.uniform(0.4, 0.9)), phase_s=float(rng.uniform(0, 900)),
                                ramp_s=float(rng.uniform(10, 40))))  # fmt: skip
        else:  # fridge/vending machine: warm at the back, cool front
            y = d - 0.7
            box = Box((x - 0.35, y, 0.0), (x + 0.35, y + 0.6, float(rng.uniform(1.5, 2.0))))
            things.append(Thing(kind, box, float(rng.uniform(-3, 2)), relative=True))
    return tuple(things)


#: keys random_scene accepts as overrides (besides every Room, Crowd, SensorModel field)
SCENE_KEYS = ("name", "loop_s", "seed", "no_things", "no_drift")


def random_scene(rng: np.random.Generator, **overrides: Any) -> Scene:
    """A scene with everything varied: mount, room, things, drift, noise, people.

    ``overrides`` set any field of :class:`Room`, :class:`Crowd` or
    :class:`SensorModel` by name (``mount="ceiling"``, ``rate_per_min=3``,
    ``noise_c=0.2``), and ``no_things=True`` / ``no_drift=True`` give a bare
    room or constant air. An unknown key is a :class:`UsageError`.

    Left alone, a 90 s stretch of 120 scenes labels about 31% of frames empty,
    26% one person, 22% two, 10% three and 11% four or more; the primary person
    stands 59%, sits 26%, lies 15%; faces 41%, side 37%, away 22%. To lean a
    training set another way, override the crowd, e.g. ``p_face=0.3`` (fewer
    facing), ``behaviours=`` weights in :data:`BEHAVIOURS` order, or
    ``group_weights=(0, 0, 1, 1)`` (groups of three and four).
    """
    room_keys = {f.name for f in fields(Room)}
    crowd_keys = {f.name for f in fields(Crowd)}
    sensor_keys = {f.name for f in fields(SensorModel)}
    unknown = set(overrides) - room_keys - crowd_keys - sensor_keys - set(SCENE_KEYS)
    if unknown:
        raise UsageError(
            f"unknown scene setting(s) {', '.join(sorted(unknown))}: use fields of Room, Crowd or SensorModel"
        )
    mount = str(overrides.get("mount", "ceiling" if rng.random() < 0.12 else "wall"))
    if mount not in ("wall", "ceiling"):
        raise UsageError(f"mount={mount!r} is not valid; use wall or ceiling")
    ceiling = float(rng.uniform(2.4, 3.5))
    if mount == "ceiling":
        height = ceiling - 0.03
        tilt = float(rng.uniform(70, 90))
        sensor_y = float(rng.uniform(1.2, 3.0))
    else:
        height = float(rng.uniform(0.8, 2.5))
        ceiling = max(ceiling, height + 0.3)
        tilt = float(rng.uniform(0, 35)) if height > 1.3 else float(rng.uniform(-5, 15))
        sensor_y = 0.0
    depth = float(rng.uniform(3.0, 8.0))
    width = float(rng.uniform(3.5, 14.0))
    share = float(rng.uniform(0.25, 0.75))
    ambient = float(rng.uniform(16.0, 30.0))
    room = Room(
        mount=mount,
        height_m=height,
        tilt_deg=tilt,
        sensor_y_m=sensor_y,
        depth_m=max(depth, sensor_y + 2.5),
        left_m=width * share,
        right_m=width * (1 - share),
        ceiling_m=ceiling,
        ambient_c=ambient,
        gradient_c_per_m=float(rng.uniform(0.5, 2.0)),
        surface_gradient_share=float(rng.uniform(0.4, 0.9)),
        floor_delta_c=float(rng.uniform(-2.0, 0.5)),
        ceiling_delta_c=float(rng.uniform(-0.5, 1.0)),
        wall_deltas_c=tuple(float(v) for v in rng.normal(0.0, 0.6, 4)),  # type: ignore[arg-type]
        texture_c=float(rng.uniform(0.05, 0.4)),
    )
    room = replace(room, **{k: v for k, v in overrides.items() if k in room_keys and k != "things"})
    things = () if overrides.get("no_things") else _things(rng, room)
    room = replace(room, things=overrides.get("things", things))
    if overrides.get("no_drift"):
        drift = Drift()
    else:
        slow = tuple(
            (float(rng.uniform(0.2, 1.0)), float(rng.uniform(1800, 14400)), float(rng.uniform(0, TAU)))
            for _ in range(2)
        )
        hvac = float(rng.uniform(0.4, 1.5)) if rng.random() < 0.25 else 0.0
        drift = Drift(slow, hvac, float(rng.uniform(480, 1800)), float(rng.uniform(0, 1800)),
                      float(rng.uniform(0.3, 0.9)))  # fmt: skip
    sensor = SensorModel(
        noise_c=float(rng.uniform(0.1, 0.25)),
        common_noise_c=float(rng.uniform(0.0, 0.05)),
        fpn_c=float(rng.uniform(0.2, 0.5)),
        vignette_c=float(rng.normal(0.0, 0.3)),
        psf_sigma_px=float(rng.uniform(0.4, 0.85)),
        gain=float(rng.uniform(0.85, 1.05)),
        offset_c=float(np.clip(rng.normal(0.0, 0.8), -2.5, 2.5)),
        self_heating_c=float(rng.uniform(1.0, 6.0)),
        warmup_s=float(rng.uniform(120, 600)) if rng.random() < 0.15 else 0.0,
        moving_average=bool(rng.random() < 0.1),
    )
    sensor = replace(sensor, **{k: v for k, v in overrides.items() if k in sensor_keys})
    beh = rng.dirichlet(np.array([3.0, 3.0, 1.5, 1.0, 1.0, 1.5, 1.0]) * 2)
    groups = rng.dirichlet(np.array([5.0, 2.5, 1.2, 0.8]) * 2)
    crowd = Crowd(
        rate_per_min=float(np.exp(rng.uniform(math.log(0.3), math.log(5.0)))),
        group_weights=tuple(float(v) for v in groups),
        behaviours=tuple(float(v) for v in beh),
        dwell_median_s=float(np.exp(rng.uniform(math.log(5.0), math.log(90.0)))),
        dwell_sigma=float(rng.uniform(0.5, 1.2)),
        p_face=float(rng.uniform(0.45, 0.85)),
        p_child=float(rng.uniform(0.0, 0.15)),
        initial_people=int(rng.choice([0, 0, 0, 1, 1, 2, 3])),
        far_m=float(rng.uniform(3.5, 5.0)),
    )
    crowd = replace(crowd, **{k: v for k, v in overrides.items() if k in crowd_keys})
    return Scene(
        name=str(overrides.get("name", "random")),
        room=room,
        drift=drift,
        sensor=sensor,
        crowd=crowd,
        loop_s=overrides.get("loop_s"),
        seed=int(overrides.get("seed", int(rng.integers(0, 2**31 - 1)))),
    )


# --------------------------------------------------------------------------- demo
DEMO_LOOP_S = 150.0


def demo_scene() -> Scene:
    """A scripted 150 s loop: nobody; one passer-by side-on; one who stops, faces
    the screen, sits down and leaves; a couple; a group of four; everyone gone."""
    room = Room(
        mount="wall", height_m=1.9, tilt_deg=15.0, depth_m=6.5, left_m=4.0, right_m=4.0,
        ceiling_m=2.9, ambient_c=22.0, gradient_c_per_m=0.8, floor_delta_c=-1.2,
        wall_deltas_c=(0.3, -0.2, 0.1, 0.0), texture_c=0.15,
        things=(
            Thing("radiator", Box((1.6, 6.38, 0.15), (2.8, 6.48, 0.7)), 45.0),
            Thing("window", Box((-2.5, 6.47, 0.9), (-1.2, 6.5, 2.2)), -4.0, relative=True),
        ),
    )  # fmt: skip
    rng = np.random.default_rng(20261120)
    people: list[Visit] = []

    def person() -> Appearance:
        return random_appearance(rng)

    # 15 s: one person passes side-on, left to right, 2.5 m away
    s = Script(15.0, -3.5, 2.5, 0.0)
    people.append(s.walk(3.5, 2.6, 1.2).build(person()))
    # 28 s: one stops, faces the screen, sits down, stands, leaves
    s = Script(28.0, 3.5, 2.0, 0.0)
    s.walk(0.3, 2.0, 1.1).turn(toward_screen(0.3, 2.0)).wait(12.0)
    s.posture(SITTING, 1.6, seat_z=0.46).wait(10.0).posture(STANDING, 1.4)
    s.walk(-3.8, 2.2, 1.1)
    people.append(s.build(person()))
    # 64 s: a couple stop together; one turns to talk; both leave
    s1 = Script(64.0, -3.6, 2.6, 0.0)
    s1.walk(-0.45, 2.6, 1.0).turn(toward_screen(-0.45, 2.6)).wait(9.0)
    s1.turn(toward_screen(-0.45, 2.6) - 1.4).wait(5.0).turn(toward_screen(-0.45, 2.6)).wait(3.0)
    s1.walk(3.8, 2.9, 1.0)
    s2 = Script(64.8, -3.6, 3.1, 0.0)
    s2.walk(0.35, 3.1, 1.0).turn(toward_screen(0.35, 3.1)).wait(16.0)
    s2.walk(3.8, 3.3, 1.0)
    people += [s1.build(person()), s2.build(person())]
    # 94 s: a group of four gathers; one leaves early; the rest leave at ~128 s
    spots = [(-0.9, 3.4), (-0.2, 2.4), (0.6, 3.0), (1.3, 4.0)]
    for i, (x, y) in enumerate(spots):
        g = Script(94.0 + 0.9 * i, 4.2, y, 0.0)
        g.walk(x, y, 1.0).turn(toward_screen(x, y))
        stay = 12.0 if i == 3 else 28.0 - 0.9 * i
        g.wait(stay)
        g.walk(-4.5 if i % 2 else 4.5, y + 0.2, 1.1)
        people.append(g.build(person()))
    sensor = SensorModel(noise_c=0.15, fpn_c=0.3, psf_sigma_px=0.55, gain=0.95, self_heating_c=2.5)
    return Scene("demo", room, Drift(), sensor, tuple(people), None, DEMO_LOOP_S, seed=1)

"""Synthetic CICFlowMeter-like traffic: the embedded default data source.

Each attack family has a :class:`FlowProfile`, and benign traffic is a mix of three
applications (web, DNS, background), each with its own profile. A profile draws a flow's
latent quantities (packet counts, duration, payload sizes, TCP windows) from heavy-tailed
log-normal and Pareto distributions; the 19 CIC-IDS2017 features are then derived from
them the way CICFlowMeter derives them (rates from counts and duration, header lengths
from packet counts, integer counts and window sizes, ``-1`` for an unseen window).
Families overlap somewhat, so a good model is accurate but not perfect.

Drift scenarios replace a share of the flows from ``onset_flow`` on (an index into the
returned frame) with a drifted concept: benign-looking variants of DoS and PortScan
(``attack_variant``), a family never seen before (``novel_attack``: ``Infiltration``),
or a new benign application (``benign_shift``).

>>> generator = TrafficGenerator(seed=7)
>>> flows = generator.sample(1000)
>>> flows.shape
(1000, 20)
>>> set(flows["label"]) <= set(BASE_LABELS)
True
>>> scenario = DriftScenario(name="novel_attack", onset_flow=500, drift_share=0.2)
>>> stream = TrafficGenerator(seed=7).stream(1000, scenario)
>>> bool(stream["drifted"].iloc[:500].any()), bool(stream["drifted"].iloc[500:].any())
(False, True)
>>> sorted(set(stream.loc[stream["drifted"], "label"]))
['Infiltration']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from arf_ids.core.errors import InvalidFlowError, UnknownLabelError
from arf_ids.core.schema import CIC_IDS2017_FEATURES, DEFAULT_SCHEMA, FlowSchema

FloatArray = NDArray[np.float64]

#: CICFlowMeter ends a flow after 120 s; durations are in microseconds.
MAX_FLOW_DURATION_US = 120_000_000.0
#: Largest value a 16-bit length or window field can hold.
MAX_16BIT = 65_535.0
#: Cap of the Pareto factor between a flow's largest and its mean forward payload.
MAX_PAYLOAD_SPREAD = 64.0


class LogNormal(BaseModel):
    """A log-normal distribution given by its median and the sigma of its logarithm."""

    model_config = ConfigDict(frozen=True)

    median: float = Field(gt=0)
    sigma: float = Field(ge=0)


class FlowProfile(BaseModel):
    """How one kind of traffic draws a flow's latent quantities (durations in µs, sizes in bytes)."""

    model_config = ConfigDict(frozen=True)

    duration_us: LogNormal
    extra_fwd_packets: LogNormal  # forward packets beyond the first (floored)
    bwd_per_fwd_packet: LogNormal
    no_reply_share: float = Field(ge=0, le=1)
    fwd_payload_mean: LogNormal
    empty_fwd_share: float = Field(ge=0, le=1)
    bwd_payload_max: LogNormal
    iat_min_fraction: LogNormal  # shortest gap / mean gap (clipped to 1): low = bursty, high = regular
    urg_share: float = Field(ge=0, le=1)
    #: (value, weight) pairs of the categorical header and window fields.
    min_seg_size_forward: tuple[tuple[int, float], ...]
    init_win_forward: tuple[tuple[int, float], ...]
    init_win_backward: tuple[tuple[int, float], ...]


def _ln(median: float, sigma: float) -> LogNormal:
    return LogNormal(median=median, sigma=sigma)


#: Benign traffic is a mix of applications: (share of benign flows, profile).
BENIGN_APPLICATIONS: Mapping[str, tuple[float, FlowProfile]] = MappingProxyType(
    {
        "web": (
            0.45,
            FlowProfile(
                duration_us=_ln(200_000, 1.8),
                extra_fwd_packets=_ln(6.0, 0.9),
                bwd_per_fwd_packet=_ln(1.2, 0.5),
                no_reply_share=0.05,
                fwd_payload_mean=_ln(120, 0.9),
                empty_fwd_share=0.1,
                bwd_payload_max=_ln(1200, 0.8),
                iat_min_fraction=_ln(0.01, 1.5),
                urg_share=0.05,
                min_seg_size_forward=((32, 0.7), (20, 0.3)),
                init_win_forward=((29200, 0.4), (65535, 0.3), (8192, 0.2), (14600, 0.1)),
                init_win_backward=((-1, 0.2), (65160, 0.3), (29200, 0.2), (2052, 0.1), (235, 0.2)),
            ),
        ),
        "dns": (
            0.35,
            FlowProfile(  # UDP request/response: 8-byte headers, no TCP windows
                duration_us=_ln(30_000, 1.5),
                extra_fwd_packets=_ln(0.2, 1.0),
                bwd_per_fwd_packet=_ln(1.0, 0.1),
                no_reply_share=0.1,
                fwd_payload_mean=_ln(40, 0.3),
                empty_fwd_share=0.0,
                bwd_payload_max=_ln(120, 0.5),
                iat_min_fraction=_ln(0.5, 1.0),
                urg_share=0.0,
                min_seg_size_forward=((8, 1.0),),
                init_win_forward=((-1, 1.0),),
                init_win_backward=((-1, 1.0),),
            ),
        ),
        "background": (
            0.20,
            FlowProfile(  # keep-alives, control channels, idle sessions: long and sparse
                duration_us=_ln(5_000_000, 2.5),
                extra_fwd_packets=_ln(1.0, 1.2),
                bwd_per_fwd_packet=_ln(1.0, 0.7),
                no_reply_share=0.3,
                fwd_payload_mean=_ln(20, 1.2),
                empty_fwd_share=0.5,
                bwd_payload_max=_ln(60, 1.2),
                iat_min_fraction=_ln(0.2, 1.5),
                urg_share=0.3,
                min_seg_size_forward=((20, 0.6), (32, 0.3), (40, 0.1)),
                init_win_forward=((-1, 0.3), (256, 0.2), (1024, 0.1), (8192, 0.2), (65535, 0.2)),
                init_win_backward=((-1, 0.6), (0, 0.2), (2052, 0.2)),
            ),
        ),
    }
)
WEB_PROFILE = BENIGN_APPLICATIONS["web"][1]

#: One profile per attack family of normal, pre-drift traffic.
ATTACK_PROFILES: Mapping[str, FlowProfile] = MappingProxyType(
    {
        "DoS": FlowProfile(  # Hulk / GoldenEye / slowloris: long HTTP flows, big responses
            duration_us=_ln(5_000_000, 0.8),
            extra_fwd_packets=_ln(4.0, 0.6),
            bwd_per_fwd_packet=_ln(0.8, 0.4),
            no_reply_share=0.1,
            fwd_payload_mean=_ln(50, 0.4),
            empty_fwd_share=0.1,
            bwd_payload_max=_ln(3000, 0.5),
            iat_min_fraction=_ln(0.01, 1.5),
            urg_share=0.01,
            min_seg_size_forward=((32, 0.9), (20, 0.1)),
            init_win_forward=((29200, 0.3), (274, 0.35), (229, 0.35)),
            init_win_backward=((235, 0.3), (28960, 0.7)),
        ),
        "DDoS": FlowProfile(  # LOIC HTTP flood: small requests, big replies, Windows windows
            duration_us=_ln(1_000_000, 1.0),
            extra_fwd_packets=_ln(3.0, 0.5),
            bwd_per_fwd_packet=_ln(1.0, 0.3),
            no_reply_share=0.05,
            fwd_payload_mean=_ln(7, 0.3),
            empty_fwd_share=0.4,
            bwd_payload_max=_ln(6000, 0.3),
            iat_min_fraction=_ln(0.01, 1.0),
            urg_share=0.0,
            min_seg_size_forward=((20, 1.0),),
            init_win_forward=((8192, 0.6), (256, 0.3), (-1, 0.1)),
            init_win_backward=((229, 0.5), (5792, 0.5)),
        ),
        "PortScan": FlowProfile(  # one SYN, maybe one RST back, microseconds long
            duration_us=_ln(40, 1.0),
            extra_fwd_packets=_ln(0.3, 1.0),
            bwd_per_fwd_packet=_ln(1.0, 0.2),
            no_reply_share=0.3,
            fwd_payload_mean=_ln(2, 1.0),
            empty_fwd_share=0.9,
            bwd_payload_max=_ln(6, 0.5),
            iat_min_fraction=_ln(0.5, 0.5),
            urg_share=0.0,
            min_seg_size_forward=((24, 0.6), (20, 0.4)),
            init_win_forward=((1024, 0.5), (29200, 0.2), (2052, 0.3)),
            init_win_backward=((0, 0.7), (-1, 0.3)),
        ),
        "BruteForce": FlowProfile(  # FTP/SSH-Patator: many short login exchanges
            duration_us=_ln(4_000_000, 0.6),
            extra_fwd_packets=_ln(10.0, 0.5),
            bwd_per_fwd_packet=_ln(1.2, 0.2),
            no_reply_share=0.02,
            fwd_payload_mean=_ln(15, 0.25),
            empty_fwd_share=0.05,
            bwd_payload_max=_ln(80, 0.3),
            iat_min_fraction=_ln(0.05, 1.0),
            urg_share=0.0,
            min_seg_size_forward=((32, 1.0),),
            init_win_forward=((29200, 0.9), (26883, 0.1)),
            init_win_backward=((227, 0.5), (247, 0.5)),
        ),
        "Botnet": FlowProfile(  # Ares beacons: regular gaps, mid-size payloads
            duration_us=_ln(200_000, 0.6),
            extra_fwd_packets=_ln(3.0, 0.4),
            bwd_per_fwd_packet=_ln(1.0, 0.4),
            no_reply_share=0.1,
            fwd_payload_mean=_ln(90, 0.25),
            empty_fwd_share=0.1,
            bwd_payload_max=_ln(130, 0.25),
            iat_min_fraction=_ln(0.8, 0.2),
            urg_share=0.2,
            min_seg_size_forward=((20, 1.0),),
            init_win_forward=((8192, 0.8), (237, 0.2)),
            init_win_backward=((237, 0.3), (16425, 0.7)),
        ),
        "WebAttack": FlowProfile(  # web brute force / XSS / SQL injection: large requests
            duration_us=_ln(5_000_000, 0.6),
            extra_fwd_packets=_ln(3.0, 0.6),
            bwd_per_fwd_packet=_ln(1.0, 0.3),
            no_reply_share=0.05,
            fwd_payload_mean=_ln(300, 0.3),
            empty_fwd_share=0.1,
            bwd_payload_max=_ln(500, 0.4),
            iat_min_fraction=_ln(0.02, 1.0),
            urg_share=0.0,
            min_seg_size_forward=((32, 1.0),),
            init_win_forward=((29200, 0.8), (8192, 0.2)),
            init_win_backward=((235, 0.3), (28960, 0.5), (-1, 0.2)),
        ),
    }
)

#: The family that only the ``novel_attack`` scenario produces.
NOVEL_FAMILY = "Infiltration"
NOVEL_PROFILE = FlowProfile(  # data exfiltration: long flows, large uploads, small acks
    duration_us=_ln(30_000_000, 1.0),
    extra_fwd_packets=_ln(40.0, 0.8),
    bwd_per_fwd_packet=_ln(0.3, 0.5),
    no_reply_share=0.0,
    fwd_payload_mean=_ln(700, 0.5),
    empty_fwd_share=0.0,
    bwd_payload_max=_ln(100, 0.6),
    iat_min_fraction=_ln(0.05, 1.0),
    urg_share=0.05,
    min_seg_size_forward=((20, 1.0),),
    init_win_forward=((65535, 0.5), (8192, 0.5)),
    init_win_backward=((-1, 0.5), (64240, 0.5)),
)

#: ``attack_variant``: DoS and PortScan variants that hide inside benign traffic's ranges,
#: sent by a new tool whose TCP stack opens with window sizes no base traffic uses: the base
#: model reads them as browsing, a model that has seen them can tell them apart.
ATTACK_VARIANT_PROFILES: Mapping[str, FlowProfile] = MappingProxyType(
    {
        "DoS": WEB_PROFILE.model_copy(  # low-and-slow DoS mimicking ordinary browsing
            update={
                "duration_us": _ln(2_000_000, 0.5),
                "fwd_payload_mean": _ln(400, 0.3),
                "empty_fwd_share": 0.0,
                "min_seg_size_forward": ((20, 1.0),),
                "init_win_forward": ((5840, 0.7), (64240, 0.3)),
            }
        ),
        "PortScan": WEB_PROFILE.model_copy(  # stealthy scan spread over seconds
            update={
                "duration_us": _ln(1_000_000, 0.5),
                "extra_fwd_packets": _ln(1.0, 0.3),
                "fwd_payload_mean": _ln(30, 0.3),
                "empty_fwd_share": 0.0,
                "init_win_forward": ((3072, 0.6), (4096, 0.4)),
            }
        ),
    }
)

#: ``benign_shift``: a new application (bulk transfers: longer flows, bigger packets).
SHIFTED_BENIGN_PROFILE = WEB_PROFILE.model_copy(
    update={
        "duration_us": _ln(8_000_000, 1.2),
        "extra_fwd_packets": _ln(6.0, 0.8),
        "fwd_payload_mean": _ln(40, 0.8),
        "bwd_payload_max": _ln(4000, 0.8),
        "init_win_forward": ((29200, 0.6), (65535, 0.4)),
        "init_win_backward": ((-1, 0.5), (235, 0.5)),
    }
)

BASE_LABELS: tuple[str, ...] = ("BENIGN", *ATTACK_PROFILES)
ALL_LABELS: tuple[str, ...] = (*BASE_LABELS, NOVEL_FAMILY)

DEFAULT_CLASS_MIX: Mapping[str, float] = MappingProxyType(
    {"BENIGN": 0.70, "DoS": 0.08, "DDoS": 0.06, "PortScan": 0.06, "BruteForce": 0.04, "Botnet": 0.03, "WebAttack": 0.03}
)

ScenarioName = Literal["none", "attack_variant", "novel_attack", "benign_shift"]
SCENARIOS: tuple[ScenarioName, ...] = get_args(ScenarioName)

Concept = tuple[str, float, FlowProfile]
"""A kind of traffic: its label, its share among the flows of that label, its profile."""

BASE_CONCEPTS: tuple[Concept, ...] = (
    *(("BENIGN", share, profile) for share, profile in BENIGN_APPLICATIONS.values()),
    *((label, 1.0, profile) for label, profile in ATTACK_PROFILES.items()),
)

#: The concepts each scenario draws its drifted flows from (shares among the drifted flows).
DRIFTED_CONCEPTS: Mapping[ScenarioName, tuple[Concept, ...]] = MappingProxyType(
    {
        "none": (),
        "attack_variant": tuple((label, 0.5, profile) for label, profile in ATTACK_VARIANT_PROFILES.items()),
        "novel_attack": ((NOVEL_FAMILY, 1.0, NOVEL_PROFILE),),
        "benign_shift": (("BENIGN", 1.0, SHIFTED_BENIGN_PROFILE),),
    }
)


class DriftScenario(BaseModel):
    """Which drift to inject, from which flow index on, and into what share of later flows."""

    model_config = ConfigDict(frozen=True)

    name: ScenarioName = "none"
    onset_flow: int = Field(default=5_000, ge=0)
    drift_share: float = Field(default=0.3, gt=0, le=1)


def _categorical_table(profiles: Sequence[FlowProfile], field: str) -> tuple[FloatArray, FloatArray]:
    """The sorted values of a categorical field and each profile's cumulative weights over them."""
    values = sorted({value for p in profiles for value, _ in getattr(p, field)})
    weights = np.zeros((len(profiles), len(values)))
    for row, profile in enumerate(profiles):
        for value, weight in getattr(profile, field):
            weights[row, values.index(value)] += weight
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return np.asarray(values, dtype=np.float64), cumulative


def _draw_categorical(
    rng: np.random.Generator, profiles: Sequence[FlowProfile], field: str, codes: NDArray[np.intp]
) -> FloatArray:
    values, cumulative = _categorical_table(profiles, field)
    position = (rng.random(codes.size)[:, None] > cumulative[codes, :-1]).sum(axis=1)
    return values[position]


def _draw_log_normal(
    rng: np.random.Generator, profiles: Sequence[FlowProfile], field: str, codes: NDArray[np.intp]
) -> FloatArray:
    medians = np.array([getattr(p, field).median for p in profiles])[codes]
    sigmas = np.array([getattr(p, field).sigma for p in profiles])[codes]
    return medians * np.exp(sigmas * rng.standard_normal(codes.size))


def _share(profiles: Sequence[FlowProfile], field: str, codes: NDArray[np.intp]) -> FloatArray:
    return np.array([getattr(p, field) for p in profiles])[codes]


def _draw_flows(
    rng: np.random.Generator, profiles: Sequence[FlowProfile], codes: NDArray[np.intp]
) -> dict[str, FloatArray]:
    """The 19 CIC-IDS2017 features of ``len(codes)`` flows; flow ``i`` follows ``profiles[codes[i]]``."""
    n = codes.size

    def log_normal(field: str) -> FloatArray:
        return _draw_log_normal(rng, profiles, field, codes)

    def happens(field: str) -> NDArray[np.bool_]:
        return rng.random(n) < _share(profiles, field, codes)

    fwd = 1.0 + np.floor(log_normal("extra_fwd_packets"))
    bwd = np.where(happens("no_reply_share"), 0.0, np.maximum(1.0, np.round(fwd * log_normal("bwd_per_fwd_packet"))))
    fwd = np.where((fwd == 1) & (bwd == 0), 2.0, fwd)  # a flow has at least two packets
    duration = np.clip(np.round(log_normal("duration_us")), 1.0, MAX_FLOW_DURATION_US)

    flow_iat_mean = duration / (fwd + bwd - 1)
    iat_min_fraction = np.minimum(log_normal("iat_min_fraction"), 1.0)
    flow_iat_min = np.floor(flow_iat_mean * iat_min_fraction)
    fwd_gap_mean = duration / np.maximum(fwd - 1, 1)
    fwd_iat_min = np.where(fwd > 1, np.floor(np.maximum(flow_iat_min, fwd_gap_mean * iat_min_fraction)), 0.0)

    payload = np.where(happens("empty_fwd_share"), 0.0, np.minimum(log_normal("fwd_payload_mean"), MAX_16BIT))
    fwd_total = np.round(payload * fwd)
    fwd_mean = fwd_total / fwd
    spread = 1.0 + np.minimum(rng.pareto(1.5, n), MAX_PAYLOAD_SPREAD)
    fwd_max = np.clip(np.ceil(fwd_mean * spread), np.ceil(fwd_mean), np.minimum(fwd_total, MAX_16BIT))
    fwd_min = np.where(fwd == 1, fwd_total, np.floor(fwd_mean * rng.random(n)))
    bwd_max = np.where(bwd == 0, 0.0, np.minimum(np.round(log_normal("bwd_payload_max")), MAX_16BIT))
    bwd_min = np.where(bwd <= 1, bwd_max, np.floor(bwd_max * rng.random(n) ** 2))
    min_packet = np.where(bwd == 0, fwd_min, np.minimum(fwd_min, bwd_min))

    seg_size = _draw_categorical(rng, profiles, "min_seg_size_forward", codes)
    seconds = duration / 1e6
    return {
        "Flow Duration": duration,
        "Total Length of Fwd Packets": fwd_total,
        "Fwd Packet Length Max": fwd_max,
        "Fwd Packet Length Mean": fwd_mean,
        "Bwd Packet Length Max": bwd_max,
        "Bwd Packet Length Min": bwd_min,
        "Flow IAT Mean": flow_iat_mean,
        "Flow IAT Min": flow_iat_min,
        "Fwd IAT Min": fwd_iat_min,
        "Fwd Header Length": fwd * seg_size,
        "Bwd Header Length": bwd * seg_size,
        "Fwd Packets/s": fwd / seconds,
        "Bwd Packets/s": bwd / seconds,
        "Min Packet Length": min_packet,
        "URG Flag Count": happens("urg_share").astype(np.float64),
        "Down/Up Ratio": np.floor(bwd / fwd),
        "Init_Win_bytes_forward": _draw_categorical(rng, profiles, "init_win_forward", codes),
        "Init_Win_bytes_backward": _draw_categorical(rng, profiles, "init_win_backward", codes),
        "min_seg_size_forward": seg_size,
    }


class TrafficGenerator:
    """Seeded source of labelled flows; each call continues the generator's random stream.

    A new generator with the same seed replays the same frames; schemas may pick any
    subset of the 19 CIC-IDS2017 features, in any order.
    """

    def __init__(
        self,
        seed: int = 42,
        schema: FlowSchema = DEFAULT_SCHEMA,
        class_mix: Mapping[str, float] | None = None,
    ) -> None:
        unknown = [name for name in schema.features if name not in CIC_IDS2017_FEATURES]
        if unknown:
            raise InvalidFlowError(
                unknown[0], "is not one of the 19 CIC-IDS2017 features the traffic generator produces"
            )
        mix = dict(DEFAULT_CLASS_MIX if class_mix is None else class_mix)
        for label, weight in mix.items():
            if label not in BASE_LABELS:
                raise UnknownLabelError(label, BASE_LABELS)
            if not np.isfinite(weight) or weight < 0:
                raise ValueError(f"class_mix weight of {label!r} must be a finite number >= 0, not {weight!r}")
        total = sum(mix.values())
        if total <= 0:
            raise ValueError("class_mix needs at least one label with a positive weight")
        self.seed = seed
        self.schema = schema
        self.class_mix: Mapping[str, float] = MappingProxyType(
            {label: mix.get(label, 0.0) / total for label in BASE_LABELS}
        )
        base_shares = np.array([self.class_mix[label] * share for label, share, _ in BASE_CONCEPTS])
        self._base_shares = base_shares / base_shares.sum()
        self._rng = np.random.default_rng(seed)

    def sample(self, n: int) -> pd.DataFrame:
        """``n`` flows of stationary base traffic: the schema's features plus ``label``."""
        frame = self.stream(n, DriftScenario(name="none"))
        return frame.drop(columns="drifted")

    def stream(self, n: int, scenario: DriftScenario) -> pd.DataFrame:
        """``n`` time-ordered flows, with the boolean ``drifted`` column.

        From row ``scenario.onset_flow`` on, each flow comes from the scenario's drifted
        concept with probability ``scenario.drift_share`` (and is then marked ``drifted``).
        """
        if n < 0:
            raise ValueError(f"the number of flows must be >= 0, not {n}")
        drifted_concepts = DRIFTED_CONCEPTS[scenario.name]
        concepts = (*BASE_CONCEPTS, *drifted_concepts)
        codes = self._rng.choice(len(BASE_CONCEPTS), size=n, p=self._base_shares)
        drifted = np.zeros(n, dtype=bool)
        if drifted_concepts:
            drifted[scenario.onset_flow :] = self._rng.random(max(n - scenario.onset_flow, 0)) < scenario.drift_share
            drift_shares = np.array([share for _, share, _ in drifted_concepts])
            codes[drifted] = len(BASE_CONCEPTS) + self._rng.choice(
                len(drifted_concepts), size=int(drifted.sum()), p=drift_shares / drift_shares.sum()
            )

        features = _draw_flows(self._rng, [profile for _, _, profile in concepts], codes)
        frame = pd.DataFrame({name: features[name] for name in self.schema.features})
        frame["label"] = np.array([label for label, _, _ in concepts], dtype=object)[codes]
        frame["drifted"] = drifted
        return frame

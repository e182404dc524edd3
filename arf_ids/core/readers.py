r"""Readers of real intrusion-detection data sets into labelled flow frames.

Every reader returns :class:`LabelledFlows`: a frame with one float column per feature
(file order) plus a string ``label`` column, the matching :class:`FlowSchema`, and how
many rows were dropped. Rows whose label is missing or whose features are not all finite
(CICFlowMeter writes ``Infinity`` and ``NaN`` into ``Flow Bytes/s``) are dropped and
counted, never fatal. A file that cannot be read as its format raises
:class:`MalformedDataError` naming the file, the problem, and the column where there is
one. Reading never writes anything.

* :func:`read_cicflowmeter`: CIC-IDS2017 (names with leading spaces), CSE-CIC-IDS2018
  (short names such as ``Tot Fwd Pkts``, renamed to the 2017 long names), CIC-DDoS2019,
  and the PWPAE CIC-IDS2017 sample whose ``Labelb`` is 0 (benign) or 1 (attack).
* :func:`read_nsl_kdd`: ``KDDTrain+.txt`` / ``KDDTest+.txt`` (no header, 43 fields).
* :func:`read_unsw_nb15`: the UNSW-NB15 training/testing-set CSV layout.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "flows.csv"
...     _ = path.write_text(
...         " Destination Port, Flow Duration,Flow Bytes/s, Label\n"
...         "80,10,5.0,BENIGN\n443,20,Infinity,BENIGN\n22,30,1.5,SSH-Patator\n"
...     )
...     flows = read_cicflowmeter(path, binary=True)
>>> flows.schema.features, flows.dropped_rows
(('Flow Duration', 'Flow Bytes/s'), 1)
>>> flows.frame["label"].tolist()
['BENIGN', 'ATTACK']
"""

from __future__ import annotations

import csv
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from arf_ids.core.errors import MalformedDataError
from arf_ids.core.schema import CIC_IDS2017_FEATURES, FlowSchema

PathLike = str | os.PathLike[str]
FlowFormat = Literal["cicflowmeter", "nsl-kdd", "unsw-nb15"]

BENIGN = "BENIGN"
ATTACK = "ATTACK"

#: CSE-CIC-IDS2018 short column names and the CIC-IDS2017 long names they stand for.
CIC_IDS2018_RENAMES: Mapping[str, str] = MappingProxyType(
    {
        "Src IP": "Source IP",
        "Src Port": "Source Port",
        "Dst IP": "Destination IP",
        "Dst Port": "Destination Port",
        "Tot Fwd Pkts": "Total Fwd Packets",
        "Tot Bwd Pkts": "Total Backward Packets",
        "TotLen Fwd Pkts": "Total Length of Fwd Packets",
        "TotLen Bwd Pkts": "Total Length of Bwd Packets",
        "Fwd Pkt Len Max": "Fwd Packet Length Max",
        "Fwd Pkt Len Min": "Fwd Packet Length Min",
        "Fwd Pkt Len Mean": "Fwd Packet Length Mean",
        "Fwd Pkt Len Std": "Fwd Packet Length Std",
        "Bwd Pkt Len Max": "Bwd Packet Length Max",
        "Bwd Pkt Len Min": "Bwd Packet Length Min",
        "Bwd Pkt Len Mean": "Bwd Packet Length Mean",
        "Bwd Pkt Len Std": "Bwd Packet Length Std",
        "Flow Byts/s": "Flow Bytes/s",
        "Flow Pkts/s": "Flow Packets/s",
        "Fwd IAT Tot": "Fwd IAT Total",
        "Bwd IAT Tot": "Bwd IAT Total",
        "Fwd Header Len": "Fwd Header Length",
        "Bwd Header Len": "Bwd Header Length",
        "Fwd Pkts/s": "Fwd Packets/s",
        "Bwd Pkts/s": "Bwd Packets/s",
        "Pkt Len Min": "Min Packet Length",
        "Pkt Len Max": "Max Packet Length",
        "Pkt Len Mean": "Packet Length Mean",
        "Pkt Len Std": "Packet Length Std",
        "Pkt Len Var": "Packet Length Variance",
        "FIN Flag Cnt": "FIN Flag Count",
        "SYN Flag Cnt": "SYN Flag Count",
        "RST Flag Cnt": "RST Flag Count",
        "PSH Flag Cnt": "PSH Flag Count",
        "ACK Flag Cnt": "ACK Flag Count",
        "URG Flag Cnt": "URG Flag Count",
        "ECE Flag Cnt": "ECE Flag Count",
        "Pkt Size Avg": "Average Packet Size",
        "Fwd Seg Size Avg": "Avg Fwd Segment Size",
        "Bwd Seg Size Avg": "Avg Bwd Segment Size",
        "Fwd Byts/b Avg": "Fwd Avg Bytes/Bulk",
        "Fwd Pkts/b Avg": "Fwd Avg Packets/Bulk",
        "Fwd Blk Rate Avg": "Fwd Avg Bulk Rate",
        "Bwd Byts/b Avg": "Bwd Avg Bytes/Bulk",
        "Bwd Pkts/b Avg": "Bwd Avg Packets/Bulk",
        "Bwd Blk Rate Avg": "Bwd Avg Bulk Rate",
        "Subflow Fwd Pkts": "Subflow Fwd Packets",
        "Subflow Fwd Byts": "Subflow Fwd Bytes",
        "Subflow Bwd Pkts": "Subflow Bwd Packets",
        "Subflow Bwd Byts": "Subflow Bwd Bytes",
        "Init Fwd Win Byts": "Init_Win_bytes_forward",
        "Init Bwd Win Byts": "Init_Win_bytes_backward",
        "Fwd Act Data Pkts": "act_data_pkt_fwd",
        "Fwd Seg Size Min": "min_seg_size_forward",
    }
)

#: Columns that identify a flow or its capture rather than describe it; never features.
#: Ports and the protocol number are codes, not magnitudes, and tie a model to one
#: network's addressing; dropping them (and the repeated ``Fwd Header Length``) gives
#: the same 76 features for CIC-IDS2017, CSE-CIC-IDS2018 and CIC-DDoS2019 exports.
#: ``Inbound`` (CIC-DDoS2019) is derived from the addresses. Unnamed columns (an index
#: written by pandas) are dropped too.
CIC_IDENTIFIER_COLUMNS: frozenset[str] = frozenset(
    {
        "Flow ID",
        "Source IP",
        "Source Port",
        "Destination IP",
        "Destination Port",
        "Protocol",
        "Timestamp",
        "SimillarHTTP",
        "Inbound",
    }
)

#: The 41 NSL-KDD features, in file order (``field_names.csv``).
NSL_KDD_FEATURES: tuple[str, ...] = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)  # fmt: skip

#: NSL-KDD symbolic features: a value's code is its position here, ``-1`` if unseen.
NSL_KDD_VOCABULARIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "protocol_type": ("icmp", "tcp", "udp"),
        "service": (
            "IRC", "X11", "Z39_50", "aol", "auth", "bgp", "courier", "csnet_ns", "ctf", "daytime",
            "discard", "domain", "domain_u", "echo", "eco_i", "ecr_i", "efs", "exec", "finger", "ftp",
            "ftp_data", "gopher", "harvest", "hostnames", "http", "http_2784", "http_443", "http_8001",
            "imap4", "iso_tsap", "klogin", "kshell", "ldap", "link", "login", "mtp", "name",
            "netbios_dgm", "netbios_ns", "netbios_ssn", "netstat", "nnsp", "nntp", "ntp_u", "other",
            "pm_dump", "pop_2", "pop_3", "printer", "private", "red_i", "remote_job", "rje", "shell",
            "smtp", "sql_net", "ssh", "sunrpc", "supdup", "systat", "telnet", "tftp_u", "tim_i",
            "time", "urh_i", "urp_i", "uucp", "uucp_path", "vmnet", "whois",
        ),
        "flag": ("OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH"),
    }
)  # fmt: skip

NSL_KDD_NORMAL = "normal"
#: The attacks of each NSL-KDD family (Tavallaee et al. 2009 / KDD'99 taxonomy), including
#: the 17 attacks that occur only in KDDTest+. ``httptunnel`` is u2r as in the literature,
#: which gives KDDTest+ its usual counts: dos 7458, probe 2421, r2l 2754, u2r 200.
NSL_KDD_FAMILY_ATTACKS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "dos": (
            "back", "land", "neptune", "pod", "smurf", "teardrop", "apache2", "mailbomb", "processtable", "udpstorm",
        ),
        "probe": ("ipsweep", "nmap", "portsweep", "satan", "mscan", "saint"),
        "r2l": (
            "ftp_write", "guess_passwd", "imap", "multihop", "phf", "spy", "warezclient", "warezmaster",
            "named", "sendmail", "snmpgetattack", "snmpguess", "worm", "xlock", "xsnoop",
        ),
        "u2r": ("buffer_overflow", "loadmodule", "perl", "rootkit", "httptunnel", "ps", "sqlattack", "xterm"),
    }
)  # fmt: skip
#: Attack name -> family.
NSL_KDD_ATTACK_FAMILIES: Mapping[str, str] = MappingProxyType(
    {attack: family for family, attacks in NSL_KDD_FAMILY_ATTACKS.items() for attack in attacks}
)
NSL_KDD_FIELDS = len(NSL_KDD_FEATURES) + 2  # features, label, difficulty

#: The UNSW-NB15 training/testing-set features, in file order (``id`` is not one).
UNSW_NB15_FEATURES: tuple[str, ...] = (
    "dur", "proto", "service", "state", "spkts", "dpkts", "sbytes", "dbytes", "rate", "sttl", "dttl",
    "sload", "dload", "sloss", "dloss", "sinpkt", "dinpkt", "sjit", "djit", "swin", "stcpb", "dtcpb",
    "dwin", "tcprtt", "synack", "ackdat", "smean", "dmean", "trans_depth", "response_body_len",
    "ct_srv_src", "ct_state_ttl", "ct_dst_ltm", "ct_src_dport_ltm", "ct_dst_sport_ltm",
    "ct_dst_src_ltm", "is_ftp_login", "ct_ftp_cmd", "ct_flw_http_mthd", "ct_src_ltm", "ct_srv_dst",
    "is_sm_ips_ports",
)  # fmt: skip
#: UNSW-NB15 symbolic features; a value's code is the CRC-32 of its text, so codes agree
#: across files and machines without a vocabulary.
UNSW_NB15_SYMBOLIC: tuple[str, ...] = ("proto", "service", "state")

#: Text that stands for a missing value in a numeric column.
_MISSING_TEXT = frozenset({"", "nan", "na", "null"})


@dataclass(frozen=True)
class LabelledFlows:
    """Flows read from a file: ``frame`` holds the schema's features plus ``label``."""

    frame: pd.DataFrame
    schema: FlowSchema
    dropped_rows: int
    source: str


def _check_file(path: PathLike) -> tuple[Path, str]:
    file, source = Path(path), str(path)
    if not file.exists():
        raise MalformedDataError(source, "file does not exist")
    if not file.is_file():
        raise MalformedDataError(source, "is not a file")
    if file.stat().st_size == 0:
        raise MalformedDataError(source, "file is empty")
    return file, source


def _read_csv(source: str, reader: Any, **options: Any) -> pd.DataFrame:
    """``pandas.read_csv`` whose parse errors become :class:`MalformedDataError`."""
    try:
        return pd.read_csv(
            reader, skip_blank_lines=False, low_memory=False, encoding="utf-8", encoding_errors="replace", **options
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise MalformedDataError(source, f"cannot be parsed as CSV: {err}") from None


def _reject_first(source: str, column: str, values: pd.Series, bad: pd.Series, problem: str, first_line: int) -> None:
    """Raise for the first row flagged ``bad``, naming its line (row index + ``first_line``) and value."""
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        line = int(values.index[row]) + first_line
        value = values.iloc[row]
        shown = repr(value.item() if isinstance(value, np.generic) else value)
        raise MalformedDataError(source, f"line {line}: {shown} {problem}", column=column)


def _as_numbers(source: str, column: str, values: pd.Series, first_line: int) -> np.ndarray:
    """A column as floats (``Infinity``/``NaN`` text allowed); other text raises, naming line and value."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64)
    text = values.where(values.isna(), values.astype(str).str.strip())
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna() & ~text.str.lower().isin(_MISSING_TEXT)
    _reject_first(source, column, values, bad, "is not a number", first_line)
    return numbers.to_numpy(dtype=np.float64)


def _zero_one_labels(source: str, column: str, values: pd.Series, first_line: int) -> pd.Series:
    """A 0/1 label column as ``BENIGN``/``ATTACK``; any other number raises."""
    codes = pd.Series(_as_numbers(source, column, values, first_line), index=values.index)
    invalid = codes.notna() & ~codes.isin([0.0, 1.0])
    _reject_first(source, column, values, invalid, "is not 0 (benign) or 1 (attack)", first_line)
    return codes.map({0.0: BENIGN, 1.0: ATTACK})


def _labelled_flows(
    source: str, features: Mapping[str, np.ndarray], labels: pd.Series, dropped_before: int
) -> LabelledFlows:
    """Drop rows without a label or with a non-finite feature; count them; build the result."""
    if labels.size == 0:
        raise MalformedDataError(source, "has no data rows")
    names = tuple(features)
    matrix = np.column_stack([features[name] for name in names])
    usable = np.isfinite(matrix).all(axis=1) & labels.notna().to_numpy()
    if not usable.any():
        raise MalformedDataError(
            source, f"none of its {labels.size} data rows has a label and finite values for every feature"
        )
    frame = pd.DataFrame(matrix[usable], columns=list(names))
    frame["label"] = labels.to_numpy(dtype=object)[usable]
    return LabelledFlows(
        frame=frame,
        schema=FlowSchema(features=names),
        dropped_rows=dropped_before + int((~usable).sum()),
        source=source,
    )


def _cic_header(file: Path, source: str) -> list[str]:
    with file.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    names = [name.strip() for name in header]
    if not any(names):
        raise MalformedDataError(source, "has no header row")
    return [CIC_IDS2018_RENAMES.get(name, name) for name in names]


def _cic_labels(values: pd.Series, binary: bool) -> pd.Series:
    text = values.where(values.isna(), values.astype(str))
    text = text.str.replace("\ufffd", "-").str.replace("\u2013", "-").str.split().str.join(" ")
    text = text.mask(text.str.upper() == BENIGN, BENIGN).mask(text == "", None)
    return text.mask(text.notna() & (text != BENIGN), ATTACK) if binary else text


def read_cicflowmeter(path: PathLike, *, binary: bool = False) -> LabelledFlows:
    """A CICFlowMeter CSV export (CIC-IDS2017/2018, CIC-DDoS2019, or the ``Labelb`` sample).

    Column names are stripped and 2018 short names renamed to the 2017 long names;
    identifier columns (:data:`CIC_IDENTIFIER_COLUMNS`, unnamed columns) and repeated
    column names are dropped; every other column except the label is a numeric feature,
    in file order. Labels: ``BENIGN`` (any case) or the stripped attack name, or with
    ``binary`` ``ATTACK`` for every attack; ``Labelb`` 0/1 gives ``BENIGN``/``ATTACK``.
    Header rows repeated inside the file (CSE-CIC-IDS2018 has them) are dropped and counted.
    """
    file, source = _check_file(path)
    names = _cic_header(file, source)
    label_columns = [name.lower() for name in names if name.lower() in ("label", "labelb")]
    if not label_columns:
        raise MalformedDataError(source, "has no label column ('Label', or 'Labelb' with 0 = benign, 1 = attack)")
    zero_one_label = "label" not in label_columns
    label_at = [name.lower() for name in names].index("labelb" if zero_one_label else "label")

    feature_at: dict[str, int] = {}
    for i, name in enumerate(names):
        identifier = name.startswith("Unnamed:") or name in CIC_IDENTIFIER_COLUMNS
        if name and not identifier and name.lower() not in ("label", "labelb"):
            feature_at.setdefault(name, i)
    if zero_one_label:
        missing = [name for name in CIC_IDS2017_FEATURES if name not in feature_at]
        if missing:
            raise MalformedDataError(
                source, "is missing: a 'Labelb' file holds the 19 CIC-IDS2017 sample features", column=missing[0]
            )
    if not feature_at:
        raise MalformedDataError(source, "has no feature columns besides the label")

    columns = sorted([*feature_at.values(), label_at])
    raw = _read_csv(source, file, header=0).iloc[:, columns]  # all columns parsed: ragged rows raise
    raw.columns = [names[i] for i in columns]
    label = raw[names[label_at]]
    repeated_header = label.astype(str).str.strip().str.lower() == names[label_at].lower()
    raw = raw.loc[~repeated_header]  # keeps the row index, so errors still name the right line

    features = {name: _as_numbers(source, name, raw[name], first_line=2) for name in feature_at}
    label = raw[names[label_at]]
    labels = _zero_one_labels(source, names[label_at], label, 2) if zero_one_label else _cic_labels(label, binary)
    return _labelled_flows(source, features, labels, dropped_before=int(repeated_header.sum()))


def _symbol_codes(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    position = {symbol: float(code) for code, symbol in enumerate(vocabulary)}
    return values.map(lambda value: position.get(str(value).strip(), -1.0)).to_numpy(dtype=np.float64)


def read_nsl_kdd(path: PathLike, *, families: bool = True) -> LabelledFlows:
    """An NSL-KDD text file (``KDDTrain+.txt``, ``KDDTest+.txt``, the 20% subset).

    Each line holds 41 features, the label and a difficulty score (dropped). The symbolic
    ``protocol_type``, ``service`` and ``flag`` become their position in the embedded
    :data:`NSL_KDD_VOCABULARIES` (``-1`` if unseen), identically for every file. With
    ``families`` an attack name becomes its family (``dos``, ``probe``, ``r2l``, ``u2r``);
    ``normal`` stays ``normal``; an unknown attack name raises.
    """
    file, source = _check_file(path)
    lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        fields = line.count(",") + 1
        if fields != NSL_KDD_FIELDS:
            raise MalformedDataError(
                source,
                f"line {number} has {fields} fields; NSL-KDD lines have {NSL_KDD_FIELDS} "
                "(41 features, the label, the difficulty)",
            )
    raw = _read_csv(
        source,
        StringIO("\n".join(lines)),
        header=None,
        names=[*NSL_KDD_FEATURES, "label", "difficulty"],
        dtype={**dict.fromkeys(NSL_KDD_VOCABULARIES, str), "label": str},
    )
    features = {
        name: _symbol_codes(raw[name], NSL_KDD_VOCABULARIES[name])
        if name in NSL_KDD_VOCABULARIES
        else _as_numbers(source, name, raw[name], first_line=1)
        for name in NSL_KDD_FEATURES
    }
    labels = raw["label"].str.strip()
    if families:
        family = labels.map(
            lambda name: NSL_KDD_NORMAL if name == NSL_KDD_NORMAL else NSL_KDD_ATTACK_FAMILIES.get(name)
        )
        unknown = family.isna() & labels.notna()
        _reject_first(source, "label", labels, unknown, "is an unknown attack name (no family)", first_line=1)
        labels = family
    return _labelled_flows(source, features, labels, dropped_before=0)


def _crc32_codes(values: pd.Series) -> np.ndarray:
    text = values.where(values.isna(), values.astype(str).str.strip())
    codes = {symbol: float(zlib.crc32(symbol.encode("utf-8"))) for symbol in text.dropna().unique()}
    return text.map(codes).to_numpy(dtype=np.float64)


def read_unsw_nb15(path: PathLike, *, binary: bool = False) -> LabelledFlows:
    """A UNSW-NB15 training- or testing-set CSV (``id``, 42 features, ``attack_cat``, ``label``).

    ``proto``, ``service`` and ``state`` become the CRC-32 of their text. The label is
    ``attack_cat`` stripped, with ``Normal`` as ``BENIGN``; with ``binary`` it comes from
    the 0/1 ``label`` column: ``BENIGN`` or ``ATTACK``.
    """
    file, source = _check_file(path)
    raw = _read_csv(source, file, header=0, dtype={**dict.fromkeys(UNSW_NB15_SYMBOLIC, str), "attack_cat": str})
    raw.columns = [str(name).strip() for name in raw.columns]
    missing = [name for name in (*UNSW_NB15_FEATURES, "attack_cat", "label") if name not in raw.columns]
    if missing:
        raise MalformedDataError(source, "is missing from this UNSW-NB15 training/testing-set file", column=missing[0])
    features = {
        name: _crc32_codes(raw[name]) if name in UNSW_NB15_SYMBOLIC else _as_numbers(source, name, raw[name], 2)
        for name in UNSW_NB15_FEATURES
    }
    if binary:
        labels = _zero_one_labels(source, "label", raw["label"], first_line=2)
    else:
        labels = raw["attack_cat"].str.strip()
        labels = labels.mask(labels.str.lower() == "normal", BENIGN).mask(labels == "", None)
    return _labelled_flows(source, features, labels, dropped_before=0)


READERS: Mapping[str, Callable[..., LabelledFlows]] = MappingProxyType(
    {"cicflowmeter": read_cicflowmeter, "nsl-kdd": read_nsl_kdd, "unsw-nb15": read_unsw_nb15}
)


def read_flows(path: PathLike, format: FlowFormat, **options: Any) -> LabelledFlows:
    """Read ``path`` with the reader of ``format``; ``options`` go to that reader."""
    reader = READERS.get(format)
    if reader is None:
        raise MalformedDataError(str(path), f"unknown format {format!r}; formats: {', '.join(READERS)}")
    return reader(path, **options)

"""Tests of the real-data readers: the shared files, written exports, malformed input."""

from __future__ import annotations

import doctest
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arf_ids.core import readers as readers_module
from arf_ids.core.errors import MalformedDataError
from arf_ids.core.readers import (
    NSL_KDD_FEATURES,
    NSL_KDD_VOCABULARIES,
    UNSW_NB15_FEATURES,
    LabelledFlows,
    read_cicflowmeter,
    read_flows,
    read_nsl_kdd,
    read_unsw_nb15,
)
from arf_ids.core.schema import CIC_IDS2017_FEATURES

# The 76 CICFlowMeter features of a CIC-IDS2017 MachineLearningCVE export, in file order.
CIC_FEATURES_76 = (
    "Flow Duration", "Total Fwd Packets", "Total Backward Packets", "Total Length of Fwd Packets",
    "Total Length of Bwd Packets", "Fwd Packet Length Max", "Fwd Packet Length Min", "Fwd Packet Length Mean",
    "Fwd Packet Length Std", "Bwd Packet Length Max", "Bwd Packet Length Min", "Bwd Packet Length Mean",
    "Bwd Packet Length Std", "Flow Bytes/s", "Flow Packets/s", "Flow IAT Mean", "Flow IAT Std", "Flow IAT Max",
    "Flow IAT Min", "Fwd IAT Total", "Fwd IAT Mean", "Fwd IAT Std", "Fwd IAT Max", "Fwd IAT Min", "Bwd IAT Total",
    "Bwd IAT Mean", "Bwd IAT Std", "Bwd IAT Max", "Bwd IAT Min", "Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags",
    "Bwd URG Flags", "Fwd Header Length", "Bwd Header Length", "Fwd Packets/s", "Bwd Packets/s",
    "Min Packet Length", "Max Packet Length", "Packet Length Mean", "Packet Length Std", "Packet Length Variance",
    "FIN Flag Count", "SYN Flag Count", "RST Flag Count", "PSH Flag Count", "ACK Flag Count", "URG Flag Count",
    "CWE Flag Count", "ECE Flag Count", "Down/Up Ratio", "Average Packet Size", "Avg Fwd Segment Size",
    "Avg Bwd Segment Size", "Fwd Avg Bytes/Bulk", "Fwd Avg Packets/Bulk", "Fwd Avg Bulk Rate",
    "Bwd Avg Bytes/Bulk", "Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate", "Subflow Fwd Packets", "Subflow Fwd Bytes",
    "Subflow Bwd Packets", "Subflow Bwd Bytes", "Init_Win_bytes_forward", "Init_Win_bytes_backward",
    "act_data_pkt_fwd", "min_seg_size_forward", "Active Mean", "Active Std", "Active Max", "Active Min",
    "Idle Mean", "Idle Std", "Idle Max", "Idle Min",
)  # fmt: skip

# A CSE-CIC-IDS2018 header, as the 2018 exports spell it.
CIC_IDS2018_HEADER = (
    "Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,Tot Bwd Pkts,TotLen Fwd Pkts,TotLen Bwd Pkts,"
    "Fwd Pkt Len Max,Fwd Pkt Len Min,Fwd Pkt Len Mean,Fwd Pkt Len Std,Bwd Pkt Len Max,Bwd Pkt Len Min,"
    "Bwd Pkt Len Mean,Bwd Pkt Len Std,Flow Byts/s,Flow Pkts/s,Flow IAT Mean,Flow IAT Std,Flow IAT Max,"
    "Flow IAT Min,Fwd IAT Tot,Fwd IAT Mean,Fwd IAT Std,Fwd IAT Max,Fwd IAT Min,Bwd IAT Tot,Bwd IAT Mean,"
    "Bwd IAT Std,Bwd IAT Max,Bwd IAT Min,Fwd PSH Flags,Bwd PSH Flags,Fwd URG Flags,Bwd URG Flags,"
    "Fwd Header Len,Bwd Header Len,Fwd Pkts/s,Bwd Pkts/s,Pkt Len Min,Pkt Len Max,Pkt Len Mean,Pkt Len Std,"
    "Pkt Len Var,FIN Flag Cnt,SYN Flag Cnt,RST Flag Cnt,PSH Flag Cnt,ACK Flag Cnt,URG Flag Cnt,"
    "CWE Flag Count,ECE Flag Cnt,Down/Up Ratio,Pkt Size Avg,Fwd Seg Size Avg,Bwd Seg Size Avg,"
    "Fwd Byts/b Avg,Fwd Pkts/b Avg,Fwd Blk Rate Avg,Bwd Byts/b Avg,Bwd Pkts/b Avg,Bwd Blk Rate Avg,"
    "Subflow Fwd Pkts,Subflow Fwd Byts,Subflow Bwd Pkts,Subflow Bwd Byts,Init Fwd Win Byts,"
    "Init Bwd Win Byts,Fwd Act Data Pkts,Fwd Seg Size Min,Active Mean,Active Std,Active Max,Active Min,"
    "Idle Mean,Idle Std,Idle Max,Idle Min,Label"
)

UNSW_HEADER = ("id", *UNSW_NB15_FEATURES, "attack_cat", "label")


def spaced_2017_names() -> list[str]:
    """The CIC-IDS2017 feature columns as written: leading spaces, ``Fwd Header Length`` twice."""
    names = [f" {name}" for name in CIC_FEATURES_76]
    names.insert(names.index(" Avg Bwd Segment Size") + 1, " Fwd Header Length")
    return names


def numeric_rows(n: int, width: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[str(v) for v in row] for row in rng.integers(0, 5000, size=(n, width))]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    lines = [",".join(header), *(",".join(row) for row in rows)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_module_docstring_examples_hold() -> None:
    result = doctest.testmod(readers_module)
    assert result.attempted > 0
    assert result.failed == 0


# --- the shared real data ---------------------------------------------------------------


def test_cic_ids2017_sample(shared_data: Path) -> None:
    flows = read_cicflowmeter(shared_data / "cic-ids2017" / "cic_0.01km.csv")
    assert isinstance(flows, LabelledFlows)
    assert len(flows.frame) == 28_303
    assert flows.schema.features == CIC_IDS2017_FEATURES
    assert list(flows.frame.columns) == [*CIC_IDS2017_FEATURES, "label"]
    assert flows.frame["label"].value_counts().to_dict() == {"BENIGN": 22_662, "ATTACK": 5_641}
    assert flows.dropped_rows == 0
    assert all(flows.frame[name].dtype == np.float64 for name in CIC_IDS2017_FEATURES)
    assert flows.source.endswith("cic_0.01km.csv")


def test_nsl_kdd_twenty_percent_file(shared_data: Path) -> None:
    flows = read_nsl_kdd(shared_data / "nsl-kdd" / "KDDTrain+_20Percent.txt")
    assert len(flows.frame) == 25_192
    assert flows.schema.features == NSL_KDD_FEATURES
    assert len(flows.schema) == 41
    counts = flows.frame["label"].value_counts().to_dict()
    assert counts == {"normal": 13_449, "dos": 9_234, "probe": 2_289, "r2l": 209, "u2r": 11}
    symbolic = flows.frame[list(NSL_KDD_VOCABULARIES)]
    assert (symbolic >= 0).all().all()  # every symbol of the file is in the embedded vocabulary


def test_nsl_kdd_test_file_maps_every_label_including_test_only_attacks(shared_data: Path) -> None:
    path = shared_data / "nsl-kdd" / "KDDTest+.txt"
    flows = read_nsl_kdd(path)
    assert len(flows.frame) == 22_544
    # The KDDTest+ class counts quoted throughout the NSL-KDD literature.
    counts = flows.frame["label"].value_counts().to_dict()
    assert counts == {"normal": 9_711, "dos": 7_458, "probe": 2_421, "r2l": 2_754, "u2r": 200}
    names = read_nsl_kdd(path, families=False).frame["label"]
    assert names.nunique() == 38
    assert {"apache2", "mscan", "snmpguess", "sqlattack"} <= set(names)


def test_nsl_kdd_symbols_get_their_vocabulary_position_in_every_file(shared_data: Path) -> None:
    for name in ("KDDTrain+_20Percent.txt", "KDDTest+.txt"):
        path = shared_data / "nsl-kdd" / name
        text = pd.read_csv(path, header=None, usecols=[1, 2, 3], dtype=str)
        frame = read_nsl_kdd(path).frame
        for column, feature in zip(text.columns, NSL_KDD_VOCABULARIES, strict=True):
            expected = text[column].map(NSL_KDD_VOCABULARIES[feature].index).to_numpy(dtype=float)
            np.testing.assert_array_equal(frame[feature].to_numpy(), expected)


# --- CICFlowMeter exports written by the test -------------------------------------------


def cic_2017_export(path: Path) -> Path:
    """A CIC-IDS2017 export with identifiers, leading-space names, Infinity and NaN rows."""
    identifiers = ["Flow ID", " Source IP", " Source Port", " Destination IP", " Destination Port", " Protocol"]
    header = [*identifiers, " Timestamp", *spaced_2017_names(), " Label"]
    rows = []
    labels = ["BENIGN", " benign ", "DoS Hulk", "Web Attack \u2013 Brute Force", "PortScan", "BENIGN"]
    for i, values in enumerate(numeric_rows(6, 77, seed=1)):
        ids = [f"192.168.10.{i}-8.8.8.8-{40000 + i}-53-17", f"192.168.10.{i}", str(40000 + i), "8.8.8.8", "53", "17"]
        rows.append([*ids, "7/7/2017 3:30", *values, labels[i]])
    flow_bytes = header.index(" Flow Bytes/s")
    rows[1][flow_bytes] = "Infinity"
    rows[4][flow_bytes] = "NaN"
    return write_csv(path, header, rows, encoding="cp1252")


def test_cic_ids2017_export(tmp_path: Path) -> None:
    flows = read_cicflowmeter(cic_2017_export(tmp_path / "Thursday-WorkingHours.pcap_ISCX.csv"))
    assert flows.schema.features == CIC_FEATURES_76
    assert flows.dropped_rows == 2
    assert flows.frame["label"].tolist() == ["BENIGN", "DoS Hulk", "Web Attack - Brute Force", "BENIGN"]
    assert np.isfinite(flows.frame[list(CIC_FEATURES_76)].to_numpy()).all()
    binary = read_cicflowmeter(tmp_path / "Thursday-WorkingHours.pcap_ISCX.csv", binary=True)
    assert binary.frame["label"].tolist() == ["BENIGN", "ATTACK", "ATTACK", "BENIGN"]


def test_cic_ids2017_values_survive_in_order(tmp_path: Path) -> None:
    header = [" Flow Duration", " Flow Bytes/s", " Fwd Header Length", " Fwd Header Length", " Label"]
    rows = [["10", "1.5", "40", "40", "BENIGN"], ["-4", "2e3", "20", "20", "DDoS"]]
    flows = read_cicflowmeter(write_csv(tmp_path / "small.csv", header, rows))
    assert flows.schema.features == ("Flow Duration", "Flow Bytes/s", "Fwd Header Length")
    np.testing.assert_array_equal(flows.frame["Flow Duration"], [10.0, -4.0])
    np.testing.assert_array_equal(flows.frame["Flow Bytes/s"], [1.5, 2000.0])


def test_cic_ids2018_short_names_give_the_2017_schema(tmp_path: Path) -> None:
    header = CIC_IDS2018_HEADER.split(",")
    rows = [["443", "6", "28/02/2018 08:22:13", *values, "Benign"] for values in numeric_rows(3, 76, seed=2)]
    rows.insert(2, header)  # 2018 exports repeat their header inside the file
    rows[0][header.index("Flow Byts/s")] = "Infinity"
    flows = read_cicflowmeter(write_csv(tmp_path / "Wednesday-28-02-2018.csv", header, rows))
    assert flows.schema.features == CIC_FEATURES_76
    assert flows.dropped_rows == 2  # the repeated header and the Infinity row
    assert flows.frame["label"].tolist() == ["BENIGN", "BENIGN"]


def test_cic_ddos2019_extra_columns_are_not_features(tmp_path: Path) -> None:
    identifiers = ["Unnamed: 0", "Flow ID", " Source IP", " Source Port", " Destination IP", " Destination Port"]
    header = [*identifiers, " Protocol", " Timestamp", *spaced_2017_names(), "SimillarHTTP", " Inbound", " Label"]
    ids = ["a-b-1-2-17", "172.16.0.5", "634", "192.168.50.1", "60495", "17", "2018-12-01 10:51:39.8"]
    labels = ["BENIGN", "DrDoS_DNS", "DrDoS_DNS"]
    rows = [
        [str(i), *ids, *values, "0", "1", label]
        for i, (values, label) in enumerate(zip(numeric_rows(3, 77, seed=3), labels, strict=True))
    ]
    flows = read_cicflowmeter(write_csv(tmp_path / "DrDoS_DNS.csv", header, rows))
    assert flows.schema.features == CIC_FEATURES_76
    assert flows.frame["label"].tolist() == ["BENIGN", "DrDoS_DNS", "DrDoS_DNS"]


# --- malformed files ---------------------------------------------------------------------


def test_missing_and_empty_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(MalformedDataError, match="does not exist"):
        read_cicflowmeter(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(MalformedDataError, match="empty"):
        read_cicflowmeter(tmp_path / "empty.csv")
    with pytest.raises(MalformedDataError, match="is not a file"):
        read_nsl_kdd(tmp_path)
    header_only = write_csv(tmp_path / "header.csv", [" Flow Duration", " Label"], [])
    with pytest.raises(MalformedDataError, match="no data rows"):
        read_cicflowmeter(header_only)


def test_file_without_label_column_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nolabel.csv", [" Flow Duration", " Flow Bytes/s"], [["1", "2"]])
    with pytest.raises(MalformedDataError, match="no label column") as caught:
        read_cicflowmeter(path)
    assert caught.value.source == str(path)


def test_text_in_a_numeric_column_names_column_line_and_value(tmp_path: Path) -> None:
    header = [" Flow Duration", " Flow Bytes/s", " Label"]
    rows = [["1", "2", "BENIGN"], ["3", "Infinity", "BENIGN"], ["5", "fast", "DoS"]]
    with pytest.raises(MalformedDataError, match=r"line 4: 'fast' is not a number") as caught:
        read_cicflowmeter(write_csv(tmp_path / "text.csv", header, rows))
    assert caught.value.column == "Flow Bytes/s"


def test_a_row_with_too_many_fields_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(" Flow Duration, Label\n1,BENIGN\n2,BENIGN,extra\n")
    with pytest.raises(MalformedDataError, match="cannot be parsed as CSV"):
        read_cicflowmeter(path)


def test_rows_that_are_all_unusable_are_rejected(tmp_path: Path) -> None:
    rows = [["Infinity", "BENIGN"], ["NaN", "DoS"]]
    with pytest.raises(MalformedDataError, match="none of its 2 data rows"):
        read_cicflowmeter(write_csv(tmp_path / "inf.csv", [" Flow Bytes/s", " Label"], rows))


def test_sample_file_with_fewer_columns_names_the_missing_one(tmp_path: Path) -> None:
    header = [*CIC_IDS2017_FEATURES[:-1], "Labelb"]
    path = write_csv(tmp_path / "short_sample.csv", header, [[*(["1"] * 18), "0"]])
    with pytest.raises(MalformedDataError, match="19 CIC-IDS2017") as caught:
        read_cicflowmeter(path)
    assert caught.value.column == "min_seg_size_forward"


def test_sample_label_must_be_zero_or_one(tmp_path: Path) -> None:
    header = [*CIC_IDS2017_FEATURES, "Labelb"]
    path = write_csv(tmp_path / "bad_labelb.csv", header, [[*(["1"] * 19), "0"], [*(["1"] * 19), "2"]])
    with pytest.raises(MalformedDataError, match=r"line 3: 2 is not 0") as caught:
        read_cicflowmeter(path)
    assert caught.value.column == "Labelb"


# --- NSL-KDD written by the test ---------------------------------------------------------


def nsl_kdd_line(label: str, service: str = "http") -> str:
    values = ["0", "tcp", service, "SF", *(["1"] * 37), label, "21"]
    return ",".join(values)


def test_nsl_kdd_truncated_line_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "KDDTrain+.txt"
    path.write_text("\n".join([nsl_kdd_line("normal"), nsl_kdd_line("neptune").rsplit(",", 3)[0]]) + "\n")
    with pytest.raises(MalformedDataError, match="line 2 has 40 fields; NSL-KDD lines have 43"):
        read_nsl_kdd(path)


def test_nsl_kdd_unknown_attack_name_is_named(tmp_path: Path) -> None:
    path = tmp_path / "KDDTest+.txt"
    path.write_text("\n".join([nsl_kdd_line("normal"), nsl_kdd_line("smurf"), nsl_kdd_line("teleport")]))
    with pytest.raises(MalformedDataError, match=r"line 3: 'teleport' is an unknown attack name") as caught:
        read_nsl_kdd(path)
    assert caught.value.column == "label"
    assert read_nsl_kdd(path, families=False).frame["label"].tolist() == ["normal", "smurf", "teleport"]


def test_nsl_kdd_unseen_symbol_is_minus_one_and_text_in_numbers_is_named(tmp_path: Path) -> None:
    path = tmp_path / "unseen.txt"
    path.write_text("\n".join([nsl_kdd_line("normal", service="gopher"), nsl_kdd_line("normal", service="quic")]))
    assert read_nsl_kdd(path).frame["service"].tolist() == [NSL_KDD_VOCABULARIES["service"].index("gopher"), -1]
    bad = tmp_path / "bad.txt"
    bad.write_text(nsl_kdd_line("normal").replace("0,tcp", "zero,tcp", 1))
    with pytest.raises(MalformedDataError, match="'zero' is not a number") as caught:
        read_nsl_kdd(bad)
    assert caught.value.column == "duration"


# --- UNSW-NB15 written by the test -------------------------------------------------------


def unsw_file(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Rows of (proto, service, attack_cat, label) with numeric features filled in."""
    numeric = numeric_rows(len(rows), len(UNSW_NB15_FEATURES) - 3, seed=4)
    lines = []
    for i, ((proto, service, attack_cat, label), values) in enumerate(zip(rows, numeric, strict=True)):
        lines.append([str(i + 1), values[0], proto, service, "FIN", *values[1:], attack_cat, label])
    return write_csv(path, list(UNSW_HEADER), lines)


def test_unsw_nb15_training_set_layout(tmp_path: Path) -> None:
    rows = [("tcp", "-", "Normal", "0"), ("udp", "dns", "Generic", "1"), ("tcp", "http", " Exploits ", "1")]
    train = read_unsw_nb15(unsw_file(tmp_path / "UNSW_NB15_training-set.csv", rows))
    assert train.schema.features == UNSW_NB15_FEATURES
    assert len(train.schema) == 42
    assert train.frame["label"].tolist() == ["BENIGN", "Generic", "Exploits"]
    tcp, udp = float(zlib.crc32(b"tcp")), float(zlib.crc32(b"udp"))
    assert train.frame["proto"].tolist() == [tcp, udp, tcp]
    binary = read_unsw_nb15(tmp_path / "UNSW_NB15_training-set.csv", binary=True)
    assert binary.frame["label"].tolist() == ["BENIGN", "ATTACK", "ATTACK"]
    test = read_unsw_nb15(unsw_file(tmp_path / "UNSW_NB15_testing-set.csv", [("udp", "dns", "Normal", "0")]))
    assert test.frame["proto"].iloc[0] == train.frame["proto"].iloc[1]  # codes agree across files
    assert test.frame["service"].iloc[0] == train.frame["service"].iloc[1]


def test_unsw_nb15_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text("id,dur,proto,service,state,spkts,attack_cat,label\n1,0.1,tcp,-,FIN,2,Normal,0\n")
    with pytest.raises(MalformedDataError, match="UNSW-NB15") as caught:
        read_unsw_nb15(path)
    assert caught.value.column == "dpkts"


# --- dispatcher and side effects ---------------------------------------------------------


def test_read_flows_dispatches_and_rejects_unknown_formats(tmp_path: Path) -> None:
    path = cic_2017_export(tmp_path / "export.csv")
    direct = read_cicflowmeter(path, binary=True)
    dispatched = read_flows(path, "cicflowmeter", binary=True)
    assert dispatched.schema == direct.schema
    assert dispatched.dropped_rows == direct.dropped_rows
    assert dispatched.frame.equals(direct.frame)
    with pytest.raises(MalformedDataError, match="unknown format 'pcap'"):
        read_flows(path, "pcap")  # type: ignore[arg-type]


def test_reading_writes_nothing(tmp_path: Path) -> None:
    path = cic_2017_export(tmp_path / "export.csv")
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    read_flows(path, "cicflowmeter")
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    assert before == after

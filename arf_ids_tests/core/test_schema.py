"""Flows given as mappings or lists; every bad value is a typed error naming the feature."""

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from arf_ids.core.errors import InvalidFlowError
from arf_ids.core.schema import CIC_IDS2017_FEATURES, DEFAULT_SCHEMA, FlowSchema

SCHEMA = FlowSchema(features=("Flow Duration", "Fwd Packets/s", "Down/Up Ratio"))


def test_default_schema_is_the_cic_sample_header(shared_data):
    header = (shared_data / "cic-ids2017" / "cic_0.01km.csv").open().readline().strip().split(",")
    assert tuple(header[:-1]) == CIC_IDS2017_FEATURES == DEFAULT_SCHEMA.features


def test_mapping_and_list_give_the_same_vector_in_schema_order():
    as_mapping = SCHEMA.vector({"Down/Up Ratio": 3, "Flow Duration": 1, "Fwd Packets/s": 2.5})
    assert as_mapping.tolist() == [1.0, 2.5, 3.0]
    assert SCHEMA.vector([1, 2.5, 3]).tolist() == as_mapping.tolist()


@pytest.mark.parametrize(
    ("flow", "feature", "problem"),
    [
        ({"Flow Duration": 1, "Fwd Packets/s": 2}, "Down/Up Ratio", "missing"),
        ({"Flow Duration": 1, "Fwd Packets/s": 2, "Down/Up Ratio": 1, "Src Port": 80}, "Src Port", "not a feature"),
        ({"Flow Duration": math.nan, "Fwd Packets/s": 2, "Down/Up Ratio": 1}, "Flow Duration", "not finite"),
        ({"Flow Duration": 1, "Fwd Packets/s": math.inf, "Down/Up Ratio": 1}, "Fwd Packets/s", "not finite"),
        ({"Flow Duration": 1, "Fwd Packets/s": 2, "Down/Up Ratio": "high"}, "Down/Up Ratio", "not a number"),
        ({"Flow Duration": None, "Fwd Packets/s": 2, "Down/Up Ratio": 1}, "Flow Duration", "missing"),
        ({"Flow Duration": True, "Fwd Packets/s": 2, "Down/Up Ratio": 1}, "Flow Duration", "not a number"),
    ],
)
def test_bad_mapping_names_the_feature(flow, feature, problem):
    with pytest.raises(InvalidFlowError, match=problem) as caught:
        SCHEMA.vector(flow)
    assert caught.value.feature == feature
    assert feature in str(caught.value)


def test_checked_values_are_the_vector_and_still_check_names_and_length():
    """The service's path for flows its own validation already held to finite floats."""
    flow = {"Down/Up Ratio": 3.0, "Flow Duration": 1.0, "Fwd Packets/s": 2.5}
    for checked in (flow, [1.0, 2.5, 3.0], (1.0, 2.5, 3.0), np.array([1.0, 2.5, 3.0])):
        got = SCHEMA.checked_values(checked)
        assert type(got) is tuple and all(type(value) is float for value in got)
        assert list(got) == SCHEMA.vector(checked).tolist() == [1.0, 2.5, 3.0]
    renamed = {"Flow Duration": 1.0, "Fwd Packets/s": 2.5, "Src Port": 3.0}
    for bad, problem in ((renamed, "not a feature"), ({"Flow Duration": 1.0}, "missing"), ([1.0, 2.0], "has 2 values"),
                         ({**flow, "Src Port": 4.0}, "not a feature")):
        with pytest.raises(InvalidFlowError, match=problem):
            SCHEMA.checked_values(bad)
    one = FlowSchema(features=("Flow Duration",))  # one feature: still a tuple of one value
    assert one.checked_values({"Flow Duration": 4.0}) == (4.0,)
    assert one.checked_values([4.0]) == (4.0,)
    assert pickle.loads(pickle.dumps(SCHEMA)) == SCHEMA  # the cached name lookup pickles with it


def test_list_of_wrong_length_says_how_many_are_expected():
    with pytest.raises(InvalidFlowError, match="has 2 values but the model reads 3 features"):
        SCHEMA.vector([1, 2])


def test_matrix_reports_the_index_of_the_bad_flow():
    with pytest.raises(InvalidFlowError) as caught:
        SCHEMA.matrix([[1, 2, 3], [1, 2, 3], [1, float("-inf"), 3]])
    assert caught.value.index == 2 and caught.value.feature == "Fwd Packets/s"


def test_frame_matrix_checks_columns_text_and_non_finite_values():
    frame = pd.DataFrame({"Flow Duration": [1.0, 2.0], "Fwd Packets/s": [1.0, 2.0], "Down/Up Ratio": [0.0, 1.0]})
    assert SCHEMA.frame_matrix(frame).shape == (2, 3)
    with pytest.raises(InvalidFlowError, match="missing from the data frame"):
        SCHEMA.frame_matrix(frame.drop(columns="Down/Up Ratio"))
    with pytest.raises(InvalidFlowError, match="not numbers") as text:
        SCHEMA.frame_matrix(frame.assign(**{"Fwd Packets/s": ["1", "lots"]}))
    assert text.value.feature == "Fwd Packets/s"
    with pytest.raises(InvalidFlowError) as nan:
        SCHEMA.frame_matrix(frame.assign(**{"Down/Up Ratio": [0.0, np.nan]}))
    assert nan.value.feature == "Down/Up Ratio" and nan.value.index == 1


def test_schema_refuses_duplicates_and_emptiness():
    with pytest.raises(ValueError, match="duplicate"):
        FlowSchema(features=("a", "a"))
    with pytest.raises(ValueError, match="at least one"):
        FlowSchema(features=())

"""Materialisation metadata that a person reads in the Dagster UI."""

import base64

import dagster as dg
import pandas as pd


def picture(png: bytes, caption: str) -> dg.MetadataValue:
    """A PNG shown inline in the asset's metadata."""
    return dg.MetadataValue.md(f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})")


def class_counts(frame: pd.DataFrame, column: str = "label") -> dg.MetadataValue:
    """Rows per class, largest first."""
    counts = frame[column].value_counts() if len(frame) else pd.Series(dtype=int)
    return dg.MetadataValue.json({str(k): int(v) for k, v in counts.items()})


def table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A small frame as a markdown table."""
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "_empty_")

"""The demo's data: Seattle's daily weather 2012-2015 (vega_datasets, bundled: no network).

1,461 days of precipitation, temperatures and wind with the day's weather (drizzle, fog, rain,
snow, sun). Real drift comes with it: the later years are warmer, and from 2013 on most wet days
are labelled "fog" where 2012 said "rain" (the labelling changed), so a model trained on 2012
loses accuracy in production until it is retrained on recent data.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from branchml.errors import BranchmlError

FEATURES = ("precipitation", "temp_max", "temp_min", "wind")
LABEL = "weather"
COLUMNS = ("date", *FEATURES, LABEL)


@dataclass(frozen=True)
class Day:
    date: str  # YYYY-MM-DD
    features: tuple[float, ...]  # in FEATURES order
    weather: str


def load() -> list[Day]:
    """Every day of the data set, oldest first."""
    try:
        import skops  # type: ignore[import-untyped]  # noqa: F401  (checked now, used by the training script)
        from vega_datasets import data  # heavy (pandas), optional: the `demo` extra
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"the demo needs scikit-learn, skops and vega_datasets ({exc.name} is missing)",
                            hint="pip install 'branchml[demo]'") from exc
    frame = data.seattle_weather()
    return [Day(str(row["date"])[:10], tuple(float(row[f]) for f in FEATURES), str(row[LABEL]))
            for row in frame.to_dict("records")]


def between(days: list[Day], first: str, last: str) -> list[Day]:
    """The days from `first` to `last` (dates or date prefixes such as "2013" or "2015-06"), inclusive."""
    return [d for d in days if first <= d.date[: len(first)] and d.date[: len(last)] <= last]


def to_csv(days: list[Day]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for day in days:
        writer.writerow([day.date, *(f"{v:g}" for v in day.features), day.weather])
    return out.getvalue()

"""Colours, line styles and unit labels of the figure set, without matplotlib.

Shared by the matplotlib figures (re-exported by :mod:`clusterdyn.figures.style`) and the
browser explorer's Bokeh plots (:mod:`clusterdyn.explore.plots`), which should not pay for
importing matplotlib before the page is served.
"""

from __future__ import annotations

#: Okabe-Ito colours (Okabe and Ito 2008), safe for the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
MODEL_COLOUR = OKABE_ITO["blue"]
DATA_COLOUR = OKABE_ITO["black"]
ACCENT_COLOUR = OKABE_ITO["vermillion"]
MUTED = "#767676"
#: Line styles cycled with the colours, so scenarios stay distinct in grey-scale prints.
LINESTYLES: tuple[object, ...] = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)),
                                  (0, (1, 1)), (0, (8, 2, 2, 2)))
#: Scenario colours: Okabe-Ito without its yellow (too light for lines), then Paul Tol's wine.
#: The eighth scenario (``static_policy`` in the shipped order) was a dark yellow that had the
#: hue and the grey value of the second (``no_policy``, orange); wine is dark where orange is
#: light, so the two stay apart in colour and in grey-scale prints.
SCENARIO_COLOURS: tuple[str, ...] = (
    OKABE_ITO["black"], OKABE_ITO["orange"], OKABE_ITO["sky_blue"], OKABE_ITO["bluish_green"],
    OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["reddish_purple"], "#882255",
)
#: Stage shading (light greys); display names in :data:`STAGE_LABELS`.
STAGE_SHADES: tuple[str, ...] = ("#ececec", "#f8f8f8", "#e0e0e0")

#: Source line of every figure that shows FAO data (calibration/data/SOURCES.md, [FAO-Q/V]).
DATA_SOURCE = (
    "Data: FAO FishStat, global aquaculture production quantity and value 1950-2012 "
    "(FishStatJ export), via GitHub OHI-Science/ohiprep, Global/FAO-Aquaculture_v2012; "
    "Chile = Atlantic, coho, chinook and masu salmon."
)

_UNITS: dict[str, str] = {
    "t/Year": "t/year",
    "USD/kg": "US$/kg",
    "Million USD/Year": "US$ million/year",
    "dmnl": "dimensionless",
    "firms": "firms",
    "1/Year": "1/year",
    "Year": "years",
}


#: Model variables that are fractions of a whole, drawn in percent in every figure.
PERCENT_VARIABLES = frozenset({"World market share"})


#: Outputs drawn on a log scale (they grow by orders of magnitude over 1978-2003).
LOG_OUTPUTS = frozenset({"Production", "Production capacity", "Export value"})


def unit_label(units: str) -> str:
    """Readable form of a Vensim unit string (``"USD/kg"`` -> ``"US$/kg"``)."""
    return _UNITS.get(units, units)

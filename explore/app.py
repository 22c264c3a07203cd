"""The page of ``clusterdyn explore`` (Panel): sliders in, plots and KPIs out, one per session.

:func:`create_session` is called once per browser tab, so every widget, data source and
worker below belongs to that tab alone (two users never see each other's settings); the
:class:`~clusterdyn.explore.workbench.Workbench` they share is read-only.

Fast slider changes are coalesced: a change only records the settings wanted, and one worker
per session runs the model for the latest settings, then again only if they changed meanwhile
("latest wins"), so a burst of changes costs one or two runs and the page always ends on what
the sliders show. Runs of all sessions go through one thread, so two tabs cannot oversubscribe
the processor the compiled runner already spreads over its cores.
"""

from __future__ import annotations

import asyncio
import html
import io
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import panel as pn

from clusterdyn.explore import files
from clusterdyn.explore.plots import MAX_OVERLAYS, LivePlots
from clusterdyn.explore.workbench import Evaluation, Settings, Workbench, starts_text
from clusterdyn.scenarios.spec import LEVERS, STAGE_LABELS, STAGES, Scenario, ScenarioError
from clusterdyn.sdmodels.errors import ModelInputError

#: One thread runs the model for every session (see the module's docstring).
RUNS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clusterdyn-explore")
TITLE = "clusterdyn explore"
LEVER_STEP = 0.05
_KPIS = (  # KPI column, label, format
    ("production_2003_t", "production 2003 (t)", "{:,.0f}"),
    ("npv_exports_musd", "NPV exports (US$ M 2003)", "{:,.0f}"),
    ("npv_policy_cost_musd", "NPV policy cost (US$ M 2003)", "{:,.0f}"),
    ("world_market_share_2003", "world share 2003", "{:.1%}"),
    ("social_capital_2003", "social capital 2003", "{:.3f}"),
)
_USER_ERRORS = (ScenarioError, ModelInputError)


class LeverSlider(pn.widgets.FloatSlider):
    """A slider that hands its changes over after 10 ms instead of Panel's 50 ms.

    Panel holds every widget change for ``Syncable._debounce`` milliseconds (a class
    variable, 50 by default) to merge bursts; the session's worker already merges them
    ("latest wins"), so the wait is only latency: 40 ms of the 200 ms redraw budget.
    ``tests/test_explore_browser.py`` checks that bursts are still coalesced.
    """

    _debounce = 10


def kpi_html(rows: dict[str, Evaluation]) -> str:
    """The KPI table: one row per scenario shown, 5-95% of the draws under the value."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _KPIS)
    body = []
    for name, evaluation in rows.items():
        cells = []
        for column, _, fmt in _KPIS:
            text = fmt.format(evaluation.kpis[column])
            if column in evaluation.intervals:
                low, high = (fmt.format(x) for x in evaluation.intervals[column])
                text += f"<br><small>{low} – {high}</small>"
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr><th>{html.escape(name.replace('_', ' '))}</th>{''.join(cells)}</tr>")
    return (f"<table class='kpis'><tr><th>scenario</th>{head}</tr>{''.join(body)}</table>"
            "<small>Under a value: 5-95% over the posterior draws. NPVs 1978-2003 at 6%, "
            "constant 2003 US$.</small>")


class Session:
    """Widgets, plots and the run worker of one browser tab."""

    def __init__(self, workbench: Workbench, overlays: list[Scenario], start: Scenario) -> None:
        self.wb = workbench
        self.known: dict[str, Scenario] = dict(workbench.shipped)
        self.known.update({s.name: s for s in (*overlays, start)})
        self.sliders: dict[tuple[str, int], pn.widgets.FloatSlider] = {}
        self.wanted: Settings | None = None
        self.done: Settings | None = None
        self.busy = False
        self.runs = 0
        self.current: Evaluation = workbench.historical
        self._quiet = False
        #: Parameter overrides of the last scenario file applied (no slider; kept when saving).
        self.parameters: tuple[tuple[str, float], ...] = ()
        self.plots = LivePlots(workbench)
        self._build_widgets(Settings.from_scenario(start), [s.name for s in overlays])
        self.layout = self._layout()

    # ---- widgets ---------------------------------------------------------------------------
    def _build_widgets(self, settings: Settings, overlay_names: list[str]) -> None:
        for k, lever in enumerate(LEVERS):
            for stage in range(len(STAGES)):
                slider = LeverSlider(
                    start=0.0, end=1.0, step=LEVER_STEP, value=settings.levers[k][stage],
                    width=150, margin=(0, 6), show_value=True, format="0.00",
                    css_classes=["lever", f"lever-{lever}-{stage}"])
                slider.param.watch(self._changed, "value")
                self.sliders[(lever, stage)] = slider
        self.start_years, self.conditions = {}, {}
        for k, stage in enumerate(STAGES[1:]):
            low, high = self.wb.start_bounds(stage)
            given = settings.starts[k]
            year = given if not isinstance(given, str) else self.wb.historical_settings.starts[k]
            self.start_years[stage] = LeverSlider(
                label=f"{STAGE_LABELS[stage]} starts in", start=low, end=high, step=1.0,
                value=float(year), width=260, format="0", css_classes=[f"start-{stage}"])
            self.conditions[stage] = pn.widgets.TextInput(
                label="... or when (a condition on the model state)", width=260,
                value=given if isinstance(given, str) else "",
                placeholder="e.g. Production >= 1350", css_classes=[f"condition-{stage}"])
            self.start_years[stage].param.watch(self._changed, "value")
            self.conditions[stage].param.watch(self._changed, "value")
        self.starts_shown = pn.pane.Str("", css_classes=["starts"])
        self.band = pn.widgets.Checkbox(
            label=f"uncertainty band: 90% of {len(self.wb.draws)} posterior draws",
            value=len(self.wb.draws) > 0, disabled=len(self.wb.draws) == 0,
            css_classes=["band"])
        self.band.param.watch(self._changed, "value")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False,
                                     css_classes=["message"])
        self.kpi = pn.pane.HTML("", css_classes=["kpi"])
        self.status = pn.pane.Str("", css_classes=["status"], styles={"color": "#767676"})
        self.overlay_choice = pn.widgets.MultiChoice(
            label=f"Overlay scenarios (up to {MAX_OVERLAYS})", options=list(self.known),
            value=overlay_names[:MAX_OVERLAYS], max_items=MAX_OVERLAYS, width=420,
            css_classes=["overlays"])
        self.overlay_choice.param.watch(self._overlays_changed, "value")
        self.pin = pn.widgets.Button(label="Overlay the current settings", width=200,
                                     css_classes=["pin"])
        self.pin.on_click(self._pin)
        self.start_from = pn.widgets.Select(label="Set the sliders to", width=260,
                                            options=self._choices(), value="",
                                            css_classes=["start-from"])
        self.start_from.param.watch(self._start_from, "value")
        self.upload = pn.widgets.FileInput(accept=".toml", multiple=False,
                                           css_classes=["upload"])
        self.upload.param.watch(self._uploaded, "value")
        self.save_name = pn.widgets.TextInput(label="Scenario name (also the file name)",
                                              placeholder="my_mix", width=260,
                                              css_classes=["save-name"])
        self.save_description = pn.widgets.TextAreaInput(
            label="Description", placeholder="What this mix does and why", width=260,
            height=70, css_classes=["save-description"])
        self.save = pn.widgets.FileDownload(
            callback=self._scenario_file, filename="scenario.toml", disabled=True,
            label="Save as scenario (.toml)", color="primary", width=260,
            css_classes=["save"])
        self.save_name.param.watch(self._name_changed, "value_input")
        self.downloads = [
            pn.widgets.FileDownload(callback=self._download(kind), filename=filename,
                                    label=label, width=150, css_classes=[f"download-{kind}"])
            for kind, filename, label in (
                ("csv", "explore_trajectories.csv", "Trajectories (CSV)"),
                ("kpis", "explore_kpis.csv", "KPIs (CSV)"),
                ("png", "explore_plots.png", "Plots (PNG)"),
                ("svg", "explore_plots.svg", "Plots (SVG)"))]

    def _layout(self) -> pn.viewable.Viewable:
        header = [pn.pane.Markdown("**lever**", width=170)] + [
            pn.pane.Markdown(f"**{STAGE_LABELS[s]}**", width=162) for s in STAGES]
        grid: list = list(header)
        for lever in LEVERS:
            grid.append(pn.pane.Markdown(lever.replace("_", " "), width=170, margin=(0, 5)))
            grid += [self.sliders[(lever, stage)] for stage in range(len(STAGES))]
        controls = pn.Column(
            pn.GridBox(*grid, ncols=4),
            pn.Row(*(pn.Column(self.start_years[s], self.conditions[s]) for s in STAGES[1:])),
            self.starts_shown, self.band, self.message)
        scenarios = pn.Column(
            "### Compare", self.overlay_choice, self.pin, self.start_from,
            "### Load a scenario file", self.upload,
            "### Save the settings", self.save_name, self.save_description, self.save,
            "### Download", pn.Row(*self.downloads[:2]), pn.Row(*self.downloads[2:]),
            width=440)
        return pn.Column(
            pn.pane.Markdown(
                f"# {TITLE}\nThe calibrated salmon-cluster model (1978-{self.wb.until}) "
                "re-run as you move the policy levers of Maggi's Table 3.1. Stage shading: "
                + ", ".join(STAGE_LABELS[s] for s in STAGES) + " (grey, white, darker grey)."),
            pn.Row(controls, scenarios), self.kpi, pn.pane.Bokeh(self.plots.grid),
            self.status)

    # ---- settings and runs -----------------------------------------------------------------
    def settings(self) -> Settings:
        """The settings the widgets show (conditions win over the year sliders)."""
        levers = tuple(tuple(float(self.sliders[(lever, s)].value) for s in range(len(STAGES)))
                       for lever in LEVERS)
        starts = [self.conditions[s].value.strip() or float(self.start_years[s].value)
                  for s in STAGES[1:]]
        return Settings(levers, (starts[0], starts[1]), self.parameters)  # type: ignore[arg-type]

    def _changed(self, _event: object = None) -> None:
        if self._quiet:
            return
        self.wanted = self.settings()
        if not self.busy:
            pn.state.execute(self._worker)

    async def _worker(self) -> None:
        """Latest wins: run off the event loop until the page shows the wanted settings."""
        self.busy = True
        loop = asyncio.get_running_loop()
        try:
            while self.wanted is not None and self.wanted != self.done:
                settings, band = self.wanted, bool(self.band.value)
                try:
                    evaluation = await loop.run_in_executor(
                        RUNS, lambda s=settings, b=band: self.wb.evaluate(s, band=b))
                except _USER_ERRORS as exc:
                    self._error(str(exc))
                else:
                    self._show(evaluation)
                self.done = settings
        finally:
            self.busy = False

    def _show(self, evaluation: Evaluation) -> None:
        self.current = evaluation
        self.runs += 1
        with pn.io.hold():
            self.plots.show(evaluation, self.wb.until)
            self._refresh_kpis()
            shown = starts_text(evaluation)
            starts = "Stages start: " + "; ".join(f"{STAGE_LABELS[s]} {shown[s]}"
                                                  for s in STAGES[1:])
            if self.starts_shown.object != starts:
                self.starts_shown.object = starts
            if self.message.visible:
                self.message.visible = False
            if self.save.disabled == self._name_ok():
                self.save.disabled = not self._name_ok()
            self.status.object = (f"runs {self.runs}; last: {1 + evaluation.n_draws} model runs"
                                  f" in {evaluation.seconds * 1000:.0f} ms")

    def _error(self, text: str) -> None:
        self.message.object = text
        self.message.visible = True
        self.save.disabled = True

    def _overlaid(self) -> dict[str, Evaluation]:
        return {name: self.wb.evaluate_scenario(self.known[name])
                for name in self.overlay_choice.value}

    def _refresh_kpis(self) -> None:
        self.kpi.object = kpi_html({"current settings": self.current,
                                    "historical": self.wb.historical, **self._overlaid()})

    def _overlays_changed(self, _event: object = None) -> None:
        try:
            self.plots.set_overlays(self._overlaid())
            self._refresh_kpis()
        except _USER_ERRORS as exc:
            self._error(str(exc))

    def _pin(self, _event: object = None) -> None:
        if len(self.overlay_choice.value) >= MAX_OVERLAYS:
            self._error(f"at most {MAX_OVERLAYS} overlays: remove one first")
            return
        name = f"pinned_{sum(n.startswith('pinned_') for n in self.known) + 1}"
        try:
            self.known[name] = self.wb.scenario(self.current.settings, name)
        except _USER_ERRORS as exc:
            self._error(str(exc))
            return
        self.overlay_choice.options = list(self.known)
        self.overlay_choice.value = [*self.overlay_choice.value, name]

    def apply(self, scenario: Scenario) -> None:
        """Set every widget to ``scenario`` and run it once."""
        settings = Settings.from_scenario(scenario)
        self._quiet = True
        try:
            for k, lever in enumerate(LEVERS):
                for stage in range(len(STAGES)):
                    self.sliders[(lever, stage)].value = settings.levers[k][stage]
            for k, stage in enumerate(STAGES[1:]):
                given = settings.starts[k]
                self.conditions[stage].value = given if isinstance(given, str) else ""
                if not isinstance(given, str):
                    self.start_years[stage].value = float(given)
            self.parameters = settings.parameters
        finally:
            self._quiet = False
        self._changed()

    def _choices(self) -> dict[str, str]:
        return {"(choose a scenario)": "", **{name: name for name in self.known}}

    def _start_from(self, event: object) -> None:
        name = getattr(event, "new", None)
        if name:
            self.apply(self.known[name])
            self.start_from.value = ""  # so that choosing the same scenario again applies it

    def _uploaded(self, _event: object = None) -> None:
        if not self.upload.value:
            return
        try:
            scenario = files.load_upload(self.upload.filename or "", self.upload.value,
                                         self.wb.model)
        except _USER_ERRORS as exc:
            self._error(str(exc))
            return
        self.known[scenario.name] = scenario
        self.overlay_choice.options = list(self.known)
        self.start_from.options = self._choices()
        self.apply(scenario)

    def _name_ok(self) -> bool:
        try:
            files.check_name(self.save_name.value_input or "")
        except ScenarioError:
            return False
        return True

    def _name_changed(self, event: object) -> None:
        name = (getattr(event, "new", "") or "").strip()
        if not name:
            self.save.disabled = True
            return
        try:
            files.check_name(name)
        except ScenarioError as exc:
            self._error(str(exc))
            self.save.disabled = True
            return
        self.message.visible = False
        self.save.filename = f"{name}.toml"
        self.save.disabled = False

    def _scenario_file(self) -> io.StringIO:
        text = files.save_text(self.current.settings, self.save_name.value_input or "",
                               self.save_description.value, "", self.wb.model)
        return io.StringIO(text)

    def _download(self, kind: str) -> Callable[[], io.IOBase]:
        def make() -> io.IOBase:
            from clusterdyn.explore import exports  # matplotlib: not before the page is served
            shown = {"current_settings": self.current, "historical": self.wb.historical,
                     **self._overlaid()}
            if kind == "csv":
                return io.StringIO(exports.trajectories_csv(shown))
            if kind == "kpis":
                return io.StringIO(exports.kpis_csv(shown))
            return io.BytesIO(exports.plot_bytes(self.wb, self.current, self._overlaid(), kind))
        return make


def create_session(workbench: Future, overlays: list[Scenario], start: Scenario
                   ) -> pn.viewable.Viewable:
    """The page of one browser tab: a notice until the model is ready, then the explorer."""
    page = pn.Column(pn.pane.Markdown(f"# {TITLE}\nLoading the calibrated model... (the first "
                                      "start on a machine compiles it: about 15 s)",
                                      css_classes=["loading"]))

    def ready() -> None:
        try:
            session = Session(workbench.result(), overlays, start)
        except Exception as exc:  # one line in the page and on standard error, no traceback
            text = f"clusterdyn explore: error: the page could not be built: {exc}"
            print(text, file=sys.stderr, flush=True)
            page[:] = [pn.pane.Alert(text, alert_type="danger", css_classes=["message"])]
            return
        page[:] = [session.layout]
        session._overlays_changed()
        if start.name != "historical" or start.parameters:
            session.apply(start)
        else:
            session._show(session.wb.historical)
            session.done = session.settings()

    if workbench.done():
        ready()
    else:
        def poll() -> None:
            if workbench.done():
                callback.stop()
                ready()
        callback = pn.state.add_periodic_callback(poll, period=200)
    return page

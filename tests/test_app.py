"""The Streamlit app, driven headless with streamlit.testing.v1.AppTest.

Each flow a consultation team uses: the comparison on opening, a changed input, a bad upload,
a download that loads back unchanged, the cache. The app starts from configs/small.yaml here
(CARESIM_APP_CONFIG) so that a run takes seconds; the default place stays configs/bnes.yaml.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sim.config import MAX_UPLOAD_BYTES, Scenario, load, parse, to_yaml

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "configs" / "small.yaml"
TIMEOUT = 600  # the first run in a fresh checkout compiles the fast engine
HUBS = 3  # index of the wellbeing-hubs arm in configs/small.yaml


@pytest.fixture
def app(monkeypatch) -> AppTest:
    """The app on the small place, after its first run (which runs the comparison)."""
    monkeypatch.setenv("CARESIM_APP_CONFIG", str(SMALL.relative_to(ROOT)))
    monkeypatch.setenv("CARESIM_APP_WORKERS", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def cards(at: AppTest) -> dict[str, dict[str, str]]:
    """The comparison cards on screen: arm -> {measure label: value shown}."""
    arms = [arm.name for arm in load(SMALL).arms]
    out = {}
    for i, arm in enumerate(arms):
        card = at.main.get_by_key(f"card_{i}")
        assert arm in card.markdown[0].value
        out[arm] = {m.label: m.value for m in card.metric}
    return out


def run_button(at: AppTest):
    return at.button(key="run")


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def press_run(at: AppTest) -> None:
    run_button(at).click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def stale(at: AppTest) -> bool:
    return any("inputs have changed" in w.value for w in at.warning)


def test_opening_shows_every_arm_with_numbers(app):
    shown = cards(app)
    assert len(shown) == 5
    expected = {"Admissions", "Admissions avoided", "Mean stay", "Delayed days", "Total cost", "Present value"}
    for arm, metrics in shown.items():
        assert set(metrics) == expected, arm
        for label, value in metrics.items():
            if arm == "Status quo" and label == "Admissions avoided":
                continue
            assert re.search(r"\d", value), (arm, label, value)
    assert shown["Status quo"]["Total cost"].startswith("£")
    # Differences from the status quo are shown on every other arm's cards.
    other = app.main.get_by_key("card_1").metric
    assert all(m.proto.delta for m in other)
    progress = app.get("progress")
    assert progress and progress[0].value == 100 and "5 replications of 5 arms" in progress[0].text
    assert not run_button(app).disabled
    assert not stale(app)


def test_opening_shows_the_charts_with_titles(app):
    layouts = [json.loads(chart.proto.spec)["layout"] for chart in app.get("plotly_chart")]
    titles = [layout["title"]["text"] for layout in layouts]
    for words in ("Emergency admissions by contract year", "Cost over the contract by payer",
                  "Cost-effectiveness plane", "Acute beds", "Discharge pathway mix", "by GP cluster",
                  "by area forum", "Chance each arm is best"):
        assert any(words in title for title in titles), (words, titles)
    for layout in layouts:  # every chart labels both axes
        assert layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"], layout["title"]


def test_inputs_show_meaning_unit_and_source(app):
    beds = app.number_input(key="0|services.acute_beds.capacity")
    assert beds.label == "Acute beds (beds)" and beds.value == 7
    captions = "\n".join(c.value for c in app.caption)
    assert "Source: derived: RUH Bath about 565 beds" in captions
    hub_size = app.slider(key=f"0|arms.{HUBS}.params.hub_size")
    assert (hub_size.min, hub_size.max) == (30_000, 50_000)
    assert "People per hub" in captions


def test_a_changed_place_changes_the_numbers_after_run(app):
    before = cards(app)
    app.number_input(key="0|population.size").set_value(8000)
    app.run()
    assert stale(app)
    assert cards(app) == before  # nothing changes until Run
    assert parse(app.session_state["current_yaml"]).population.size == 8000
    press_run(app)
    after = cards(app)
    assert not stale(app)
    assert after["Status quo"]["Admissions"] != before["Status quo"]["Admissions"]
    assert app.session_state["shown"]["result"].scenario.population.size == 8000


def test_a_changed_model_changes_its_arm_only(app):
    before = cards(app)
    key = f"0|arms.{HUBS}.params.urgent_care_diversion_multiplier|uniform"
    app.number_input(key=key + "|high").set_value(6.0)
    app.number_input(key=key + "|low").set_value(5.0)
    app.run()
    press_run(app)
    after = cards(app)
    hubs = "GP-led wellbeing hubs"
    assert after[hubs]["Admissions"] != before[hubs]["Admissions"]
    # Every arm runs on the same people and random numbers: the others do not move.
    for arm in after:
        if arm != hubs:
            assert after[arm] == before[arm], arm
    changed = app.session_state["shown"]["result"].scenario.arms[HUBS].params
    assert changed["urgent_care_diversion_multiplier"] == {"dist": "uniform", "low": 5.0, "high": 6.0}


def test_a_bad_input_is_shown_at_its_key_and_turns_run_off(app):
    key = f"0|arms.{HUBS}.params.case_management_crisis_multiplier|triangular"
    app.number_input(key=key + "|low").set_value(1.02)  # above the most likely value, 1.0
    app.run()
    assert run_button(app).disabled
    assert f"arms.{HUBS}.params.case_management_crisis_multiplier" in errors(app)
    assert app.session_state["scenario"] is None
    assert app.download_button(key="download_config").disabled
    app.number_input(key=key + "|low").set_value(0.9)
    app.run()
    assert not run_button(app).disabled
    assert not errors(app)


def test_a_bad_upload_shows_keyed_errors_turns_run_off_and_keeps_the_results(app):
    before = cards(app)
    text = SMALL.read_text(encoding="utf-8")
    bad = text.replace("acute_beds: {capacity: 7,", "acute_beds: {capacity: -5,").replace(
        "window_days: 30", "window_days: -3")
    assert bad != text
    app.file_uploader(key="upload").upload("broken.yaml", bad.encode(), "application/x-yaml")
    app.run()
    shown = errors(app)
    line = next(i for i, row in enumerate(bad.splitlines(), 1) if "capacity: -5" in row)
    assert "services.acute_beds.capacity" in shown and f"(line {line})" in shown
    assert "flow.readmission.window_days" in shown
    assert run_button(app).disabled
    assert cards(app) == before  # what was computed before stays on screen
    # Removing the bad file turns Run back on, with the config that was there before.
    app.file_uploader(key="upload").clear()
    app.run()
    assert not run_button(app).disabled and not errors(app)
    assert app.session_state["base"] == load(SMALL)


@pytest.mark.parametrize("content, words", [
    (b"name: [unclosed\n", "not valid YAML"),
    (b"\x00\x01binary", "not a text file"),
    (b"#" * (MAX_UPLOAD_BYTES + 1), "larger than"),
])
def test_an_upload_that_is_not_a_config_is_refused(app, content, words):
    app.file_uploader(key="upload").upload("odd.yaml", content, "application/x-yaml")
    app.run()
    assert words in errors(app)
    assert run_button(app).disabled


def test_the_downloaded_config_uploads_back_unchanged(app):
    app.slider(key=f"0|arms.{HUBS}.params.hub_size").set_value(30_000)
    app.number_input(key="0|services.reablement.capacity").set_value(9)
    app.run()
    press_run(app)
    before = cards(app)
    text = app.session_state["current_yaml"]  # what the download button hands out
    scenario = app.session_state["scenario"]
    assert not app.download_button(key="download_config").disabled
    assert parse(text) == scenario and to_yaml(parse(text)) == text
    assert scenario.services.reablement.capacity == 9
    assert scenario.arms[HUBS].params["hub_size"] == 30_000

    app.file_uploader(key="upload").upload("caresim-config.yaml", text.encode(), "application/x-yaml")
    app.run()
    assert not errors(app)
    assert app.session_state["base"] == scenario  # the upload is the new starting point
    assert app.session_state["scenario"] == scenario  # and nothing changed on the way
    assert app.session_state["current_yaml"] == text
    assert app.slider(key=f"1|arms.{HUBS}.params.hub_size").value == 30_000
    assert app.number_input(key="1|services.reablement.capacity").value == 9
    assert not stale(app) and cards(app) == before


def test_the_same_inputs_come_back_from_the_cache(app):
    before = cards(app)
    size = app.number_input(key="0|population.size")
    size.set_value(5000)
    app.run()
    assert stale(app)
    app.number_input(key="0|population.size").set_value(4000)  # back to the config's value
    app.run()
    assert not stale(app)
    press_run(app)
    assert any("From the cache" in c.value for c in app.caption)
    assert cards(app) == before


def test_the_about_page_explains_the_model_and_lists_sources(app):
    text = "\n".join(m.value for m in app.markdown)
    for words in ("How a person moves through the model", "Validation status", "Limitations",
                  "Community-led neighbourhood teams"):
        assert words in text, words
    frames = [f.value for f in app.dataframe]
    sources = next(f for f in frames if list(f.columns) == ["Key", "Source"])
    assert "services.acute_beds" in set(sources["Key"])
    checks = next(f for f in frames if "Published figure" in f.columns)
    assert len(checks) > 0 and set(checks["Within range"]) <= {"yes", "no", ""}


def test_any_arms_the_config_has_are_shown_and_run(app):
    """The app follows the config: here two arms, no status quo, capacities by contract year."""
    data = load(SMALL).model_dump(mode="json")
    data["arms"] = [data["arms"][HUBS], data["arms"][1]]
    data["services"]["reablement"]["capacity"] = [6, 7, 8]
    other = Scenario.model_validate(data)
    app.file_uploader(key="upload").upload("two-arms.yaml", to_yaml(other).encode(), "application/x-yaml")
    app.run()
    assert not errors(app)
    assert [t.label for t in app.tabs if t.label in ("GP-led wellbeing hubs", "Condition-based services")] == [
        "GP-led wellbeing hubs", "Condition-based services"]
    capacity = app.text_input(key="1|services.reablement.capacity")
    assert capacity.value == "6, 7, 8"
    capacity.set_value("6, 7, x")
    app.run()
    assert "services.reablement.capacity" in errors(app) and run_button(app).disabled
    app.text_input(key="1|services.reablement.capacity").set_value("6, 9, 12")
    app.run()
    press_run(app)
    shown = app.session_state["shown"]["result"]
    assert shown.arms == ["GP-led wellbeing hubs", "Condition-based services"]
    assert shown.scenario.services.reablement.capacity == [6, 9, 12]
    first = app.main.get_by_key("card_0")
    assert "GP-led wellbeing hubs" in first.markdown[0].value and len(first.metric) == 6
    assert app.main.get_by_key("card_1").metric[0].proto.delta  # compared with the first arm

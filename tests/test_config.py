"""Config loading: every kind of bad config gives a keyed message with the right YAML line.

The bad configs are made by editing one line of configs/small.yaml (found by its key, not by its
value, so calibration changes to the file do not break the tests); the expected line number is
the line that was edited, counted in the edited text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from sim.config import (
    MAX_UPLOAD_BYTES,
    ConfigError,
    Scenario,
    json_schema,
    load,
    parse,
    to_yaml,
    with_changes,
)

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SMALL_TEXT = (CONFIGS / "small.yaml").read_text(encoding="utf-8")


# --- helpers --------------------------------------------------------------------------------


def edit(pattern: str, replacement: str, text: str = SMALL_TEXT) -> tuple[str, int]:
    """Replace the one match of *pattern* (multiline regex); return new text and its line."""
    matches = list(re.finditer(pattern, text, re.M))
    assert len(matches) == 1, f"{pattern!r} matches {len(matches)} times in the config"
    match = matches[0]
    line = text.count("\n", 0, match.start()) + 1
    return text[: match.start()] + match.expand(replacement) + text[match.end():], line


def line_of(pattern: str, text: str) -> int:
    """1-based line of the one match of *pattern* in *text*."""
    matches = list(re.finditer(pattern, text, re.M))
    assert len(matches) == 1, f"{pattern!r} matches {len(matches)} times"
    return text.count("\n", 0, matches[0].start()) + 1


def config_error(text) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def problem_at(error: ConfigError, path: str) -> tuple[str, int | None, str]:
    found = [p for p in error.problems if p[0] == path]
    assert found, f"no problem at {path!r}; got {error.problems}"
    return found[0]


def insert_arm(text: str, arm_yaml: str) -> tuple[str, int]:
    """Add an arm at the end of the arms list; return new text and the new arm's first line."""
    head, sep, tail = text.partition("\nsources:")
    assert sep, "the config has a sources section after its arms"
    new = head.rstrip("\n") + "\n" + arm_yaml + sep + tail
    return new, head.rstrip("\n").count("\n") + 2


# --- one case per kind of bad config ---------------------------------------------------------
# Each returns (text, key path, line, fragments the message must contain).


def broken_yaml():
    text, line = edit(r"^(  size:) .*$", r"\1 4000: 5")
    return text, "", line, ["not valid YAML", "mapping values are not allowed"]


def unknown_top_level_key():
    text = SMALL_TEXT.rstrip("\n") + "\ncolour: blue\n"
    return text, "colour", text.count("\n"), ["unknown key"]


def unknown_nested_key_with_default():
    text, line = edit(r"^(\s+)lognormal_sigma:", r"\1lognormal_sigm:")
    return text, "flow.length_of_stay.lognormal_sigm", line, ["unknown key", "did you mean 'lognormal_sigma'"]


def misspelt_required_key():
    text, line = edit(r"^(\s+)found_share:", r"\1found_shar:")
    return text, "flow.end_of_life.found_shar", line, ["unknown key", "did you mean 'found_share'"]


def probability_above_one():
    text, line = edit(r"^(\s+found_share:) .*$", r"\1 1.3")
    return text, "flow.end_of_life.found_share", line, ["less than or equal to 1", "1.3"]


def negative_capacity():
    text, line = edit(r"^(\s+acute_beds: \{capacity:) \d+", r"\1 -7")
    return text, "services.acute_beds.capacity", line, ["greater than or equal to 0", "-7"]


def age_band_shares_not_one():
    text, _ = edit(r'^(\s+- \{name: "85\+", min_age: 85, max_age: null, share:) [0-9.]+\}', r"\1 0.5}")
    return text, "population.age_bands", line_of(r"^  age_bands:", text), ["must sum to 1"]


def risk_shares_not_one():
    text, line = edit(r'^(\s+"75-84": )\[.*\]$', r"\1[0.5, 0.3, 0.2, 0.1]")
    return text, "population.risk_shares.75-84", line, ["must sum to 1", "1.1"]


def pathway_shares_not_one():
    text, line = edit(r"^(\s+- )\[1\.00, 0\.00, 0\.00, 0\.00\]$", r"\1[0.9, 0.0, 0.0, 0.0]")
    return text, "flow.pathways.shares.0", line, ["must sum to 1", "0.9"]


def reablement_outcomes_not_one():
    text, line = edit(r"^(\s+outcomes:) \{.*\}$", r"\1 {independent: 0.7, home_care: 0.2, care_home: 0.2}")
    return text, "services.reablement.outcomes", line, ["must sum to 1", "1.1"]


def zero_length_of_stay():
    text, line = edit(r"^(\s+mean_days:) \[[0-9.]+,", r"\1 [0,")
    return text, "flow.length_of_stay.mean_days.0", line, ["greater than 0", "0"]


def negative_service_duration():
    text, line = edit(r"^(\s+virtual_ward: \{capacity: \d+, mean_days:) [0-9.]+", r"\1 -7.0")
    return text, "services.virtual_ward.mean_days", line, ["greater than 0", "-7.0"]


def age_band_gap():
    text, line = edit(r"^(\s+- \{name: \"65-74\", min_age:) 65", r"\1 66")
    return text, "population.age_bands.2.min_age", line, ["without gaps", "expected 65, got 66"]


def age_bands_not_covering_all_ages():
    text, line = edit(r'^(\s+- \{name: "85\+", min_age: 85, max_age:) null', r"\1 99")
    return text, "population.age_bands.4.max_age", line, ["last band must be open"]


def per_age_band_list_too_short():
    text, line = edit(r"^(\s+crisis_rate_per_year:) \[([0-9.]+, ){4}[0-9.]+\]", r"\1 [0.4, 0.3, 0.4, 0.5]")
    return text, "flow.crisis_rate_per_year", line, ["need 5 values, got 4"]


def capacity_list_wrong_length():
    text, line = edit(r"^(\s+acute_beds: \{capacity:) \d+", r"\1 [7, 7]")
    return text, "services.acute_beds.capacity", line, ["one per contract year (3), got 2"]


def unknown_crisis_type_in_diversion():
    text, line = edit(r"^(\s+)acute_illness: \{service", r"\1exacerbation_asthma: {service")
    return text, "flow.diversion.exacerbation_asthma", line, ["unknown crisis type", "exacerbation_copd"]


def distribution_low_above_high():
    text, line = edit(r"^(\s+found_crisis_multiplier:) \{.*\}$", r"\1 {dist: uniform, low: 0.9, high: 0.5}")
    return text, "flow.end_of_life.found_crisis_multiplier", line, ["low must be <= high"]


def triangular_mode_outside():
    text, line = edit(r"^(\s+readmission:\n\s+window_days: .*\n\s+crisis_multiplier:) \{.*\}$",
                      r"\1 {dist: triangular, low: 2.0, mode: 3.5, high: 3.0}")
    return text, "flow.readmission.crisis_multiplier", line + 2, ["low <= mode <= high"]


def normal_low_above_high():
    text, line = edit(r"^(\s+found_crisis_multiplier:) \{.*\}$",
                      r"\1 {dist: normal, mean: 0.7, sd: 0.1, low: 0.9, high: 0.5}")
    return text, "flow.end_of_life.found_crisis_multiplier", line, ["low must be < high"]


def unknown_distribution_name():
    text, line = edit(r"^(\s+found_crisis_multiplier:) \{.*\}$", r"\1 {dist: gamma, shape: 2.0, scale: 0.3}")
    return text, "flow.end_of_life.found_crisis_multiplier", line, ["unknown distribution 'gamma'", "uniform"]


def uncertain_probability_can_exceed_one():
    text, line = edit(r"^(\s+found_terminal_admission_death:) \{.*\}$", r"\1 {dist: uniform, low: 0.5, high: 1.5}")
    return text, "flow.end_of_life.found_terminal_admission_death", line, ["must lie in [0.0, 1.0]"]


def unknown_arm_kind():
    text, line = edit(r"^(\s+kind:) status_quo$", r"\1 magic_model")
    return text, "arms.0.kind", line, ["unknown care model 'magic_model'", "status_quo"]


def duplicate_arm_name():
    first = re.search(r"^arms:\n  - name: (.*)$", SMALL_TEXT, re.M).group(1)
    n_arms = len(yaml.safe_load(SMALL_TEXT)["arms"])
    text, line = insert_arm(SMALL_TEXT, f"  - name: {first}\n    kind: status_quo\n")
    return text, f"arms.{n_arms}.name", line, ["used twice"]


def missing_required_key():
    text, line = edit(r"^(  end_of_life:\n)    window_days: .*\n", r"\1")
    return text, "flow.end_of_life.window_days", line, ["required key is missing"]


def missing_top_level_key():
    text, _ = edit(r"^name: .*\n", "")
    first_key_line = line_of(r"^description:", text)
    return text, "name", first_key_line, ["required key is missing"]


def text_for_a_number():
    text, line = edit(r"^(  size:) .*$", r"\1 lots")
    return text, "population.size", line, ["valid integer", "'lots'"]


def yes_for_a_number():
    text, line = edit(r"^(\s+found_share:) .*$", r"\1 yes")
    return text, "flow.end_of_life.found_share", line, ["is not a number"]


def nan_for_a_number():
    text, line = edit(r"^(\s+care_home_multiplier:) .*$", r"\1 .nan")
    return text, "flow.care_home_multiplier", line, ["finite number"]


def duplicate_yaml_key():
    text, line = edit(r"^(  size: .*\n)", r"\1  size: 5000\n")
    return text, "population.size", line + 1, ["given twice", f"lines {line} and {line + 1}"]


def unknown_diversion_service():
    text, line = edit(r"^(\s+care_breakdown: \{service:) \w+", r"\1 step_up_bedz")
    return text, "flow.diversion.care_breakdown.service", line, ["step_up_beds", "'step_up_bedz'"]


def impossible_date():
    text, line = edit(r"^(  start_year:) .*$", r"\1 2017-02-30")
    return text, "", line, ["cannot read this value", "day is out of range"]


CASES = [
    broken_yaml, unknown_top_level_key, unknown_nested_key_with_default, misspelt_required_key,
    probability_above_one, negative_capacity, age_band_shares_not_one, risk_shares_not_one,
    pathway_shares_not_one, reablement_outcomes_not_one, zero_length_of_stay,
    negative_service_duration, age_band_gap, age_bands_not_covering_all_ages,
    per_age_band_list_too_short, capacity_list_wrong_length, unknown_crisis_type_in_diversion,
    distribution_low_above_high, triangular_mode_outside, normal_low_above_high,
    unknown_distribution_name, uncertain_probability_can_exceed_one, unknown_arm_kind,
    duplicate_arm_name, missing_required_key, missing_top_level_key, text_for_a_number,
    yes_for_a_number, nan_for_a_number, duplicate_yaml_key, unknown_diversion_service,
    impossible_date,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_config_gives_one_keyed_message_on_its_line(case):
    text, path, line, fragments = case()
    error = config_error(text)
    # Exactly one problem: no noise from union branches or knock-on checks.
    assert len(error.problems) == 1, error.problems
    found_path, found_line, message = error.problems[0]
    assert found_path == path
    assert found_line == line, f"reported line {found_line}, the edit is on line {line}: {text.splitlines()[line - 1]!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # The printed error names the line and the key path together.
    where = f"line {line}: {path or '(top level)'}: "
    assert where in str(error)


def test_misspelt_required_key_is_one_problem_not_missing_plus_unknown():
    text, _, _, _ = misspelt_required_key()
    (problem,) = config_error(text).problems
    assert "required" in problem[2]


def test_not_a_mapping():
    for text in ("- a\n- b\n", "just words\n", "", "42\n"):
        error = config_error(text)
        assert error.problems == [("", 1, error.problems[0][2])]
        assert "YAML mapping" in error.problems[0][2]


def test_binary_bytes_are_refused_as_not_text():
    error = config_error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "not a text file" in error.problems[0][2]
    error = config_error(b"name: caf\xe9\n")  # Latin-1, not UTF-8
    assert "not a text file" in error.problems[0][2]
    assert error.problems[0][1] == 1


def test_control_character_in_text_names_its_line():
    text = SMALL_TEXT.replace("\nflow:\n", "\nflow:\x07\n", 1)
    error = config_error(text)
    assert "not a text file" in error.problems[0][2]
    assert error.problems[0][1] == line_of(r"^flow:", text)


def test_binary_file_on_disk(tmp_path):
    path = tmp_path / "picture.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "not a text file" in str(info.value)
    assert str(path) in str(info.value)


def test_oversize_upload_is_refused_before_parsing(tmp_path):
    big = "a: " + "x" * (MAX_UPLOAD_BYTES + 1)
    assert "larger than" in config_error(big).problems[0][2]
    assert "larger than" in config_error(big.encode()).problems[0][2]
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(ConfigError, match="larger than"):
        load(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nowhere.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)


def test_deep_nesting_and_recursive_aliases_are_config_errors():
    for text in ("name: " + "[" * 20_000 + "]" * 20_000,
                 "name: " + "{a: " * 5_000 + "1" + "}" * 5_000,
                 "name:\n" + "- " * 100_000 + "x\n",
                 "".join(" " * i + f"k{i}:\n" for i in range(300)) + " " * 300 + "end: 1\n"):
        error = config_error(text)
        assert "nested more than 200 deep" in error.problems[0][2]
    # Nesting that a config could use is still parsed (and then refused as not a config).
    error = config_error("name: " + "[" * 50 + "]" * 50)
    assert error.problems[0][0] == "name"
    error = config_error(SMALL_TEXT.replace("\nsources:", "\nloop: &loop [*loop]\nsources:", 1))
    assert any("recursive" in message for _, _, message in error.problems)


def test_nesting_that_crashes_libyaml_is_refused_in_a_child_process():
    # libyaml's composer recurses in C: without the depth bound this kills the process.
    import subprocess
    import sys

    code = ("from sim.config import parse, ConfigError\n"
            "try:\n    parse('a: ' + '[' * 60000 + ']' * 60000)\n"
            "except ConfigError as e:\n    print(e.problems[0][2])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "nested more than" in done.stdout


def test_alias_bomb_is_fast_and_a_config_error():
    rows = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    error = config_error("\n".join(rows) + "\n")  # 10**9 leaves if expanded
    assert any(p[0] == "i" and "unknown key" in p[2] for p in error.problems)


def test_one_load_reports_two_typos_in_two_sections_with_their_own_lines():
    text, line_flow = edit(r"^(\s+)lognormal_sigma:", r"\1lognormal_sigm:")
    text, line_costs = edit(r"^(\s+)trim_point_days:", r"\1trim_pont_days:", text)
    error = config_error(text)
    assert sorted(error.problems) == sorted([
        ("flow.length_of_stay.lognormal_sigm", line_flow, "unknown key; did you mean 'lognormal_sigma'?"),
        ("costs.trim_pont_days", line_costs, "unknown key; did you mean 'trim_point_days'? (a required key, missing)"),
    ])
    assert line_flow != line_costs
    assert f"line {line_flow}: flow.length_of_stay.lognormal_sigm" in str(error)
    assert f"line {line_costs}: costs.trim_pont_days" in str(error)
    assert "2 problem(s)" in str(error)


def test_one_load_reports_problems_of_every_section_at_once():
    text, line_age = edit(r'^(\s+"75-84": )\[.*\]$', r"\1[0.5, 0.3, 0.2, 0.1]")
    text, line_prob = edit(r"^(\s+found_share:) .*$", r"\1 1.3", text)
    text, line_cap = edit(r"^(\s+acute_beds: \{capacity:) \d+", r"\1 -7", text)
    text, line_kind = edit(r"^(\s+kind:) status_quo$", r"\1 magic_model", text)
    text, line_cost = edit(r"^(\s+admission: \{gbp:) [0-9.]+", r"\1 -1590", text)
    error = config_error(text)
    lines = {path: line for path, line, _ in error.problems}
    assert lines == {
        "population.risk_shares.75-84": line_age,
        "flow.end_of_life.found_share": line_prob,
        "services.acute_beds.capacity": line_cap,
        "costs.admission.gbp": line_cost,
        "arms.0.kind": line_kind,
    }


def test_reported_line_is_the_line_of_the_key_in_the_text():
    # Every key in small.yaml, made unknown one at a time, is reported on its own line.
    for number, row in enumerate(SMALL_TEXT.splitlines(), start=1):
        match = re.match(r"^(\s*)(end_of_life|pathways|reablement|clusters|run|trim_point_days):", row)
        if not match:
            continue
        lines = SMALL_TEXT.splitlines()
        lines[number - 1] = row.replace(f"{match.group(2)}:", f"{match.group(2)}_x:", 1)
        error = config_error("\n".join(lines) + "\n")
        typo = [p for p in error.problems if p[0].endswith(f"{match.group(2)}_x")]
        assert [p[1] for p in typo] == [number]


# --- valid configs ---------------------------------------------------------------------------


def test_shipped_configs_load(small, bnes):
    assert isinstance(small, Scenario) and isinstance(bnes, Scenario)
    assert small.population.size < bnes.population.size
    assert parse(SMALL_TEXT) == small
    assert parse(SMALL_TEXT.encode("utf-8")) == small
    assert parse(b"\xef\xbb\xbf" + SMALL_TEXT.encode("utf-8")) == small  # with a byte-order mark


def test_scenario_is_frozen(small):
    with pytest.raises(Exception, match="frozen"):
        small.population.size = 10


@pytest.mark.parametrize("fixture", ["small", "bnes"])
def test_to_yaml_round_trip(fixture, request):
    scenario = request.getfixturevalue(fixture)
    text = to_yaml(scenario)
    again = parse(text)
    assert again == scenario
    assert again.digest() == scenario.digest()
    assert to_yaml(again) == text


def test_digest_changes_with_any_value(small):
    changed = with_changes(small, {"flow.end_of_life.found_share": 0.31})
    assert changed.flow.end_of_life.found_share == 0.31
    assert changed.digest() != small.digest()
    assert with_changes(small, {}).digest() == small.digest()


def test_with_changes_validates_and_names_bad_paths(small):
    changed = with_changes(small, {"population.size": 5000, "population.age_bands.0.share": small.population.age_bands[0].share})
    assert changed.population.size == 5000
    assert changed.flow == small.flow
    with pytest.raises(ConfigError, match="found_share"):
        with_changes(small, {"flow.end_of_life.found_share": 1.3})
    with pytest.raises(KeyError, match="no such key"):
        with_changes(small, {"flow.end_of_lief.found_share": 0.3})
    with pytest.raises(KeyError, match="no such list item"):
        with_changes(small, {"population.age_bands.9.share": 0.3})


# --- JSON Schema -----------------------------------------------------------------------------


def test_json_schema_is_valid_and_accepts_the_default_place():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    assert validator_class is jsonschema.Draft202012Validator
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    for name in ("bnes.yaml", "small.yaml"):
        data = yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == []
    # ... and refuses what the loader refuses: an unknown key and a probability above 1.
    data = yaml.safe_load(SMALL_TEXT)
    data["flow"]["end_of_life"]["found_share"] = 1.3
    data["services"]["acute_beds"]["colour"] = "blue"
    paths = {tuple(e.absolute_path) for e in validator.iter_errors(data)}
    assert ("flow", "end_of_life", "found_share") in paths
    assert ("services", "acute_beds") in paths


def test_json_schema_describes_every_top_level_key():
    schema = json_schema()
    assert schema["title"] == "caresim config"
    assert set(schema["properties"]) == set(Scenario.model_fields)
    assert set(schema["required"]) == {"name", "population", "flow", "services", "costs"}
    assert schema["additionalProperties"] is False


def test_uncertain_value_in_schema_is_number_or_distribution():
    schema = json_schema()
    text = repr(schema)
    for dist in ("fixed", "uniform", "triangular", "beta", "lognormal", "normal"):
        assert f"'const': '{dist}'" in text


def test_text_for_an_uncertain_parameter_says_number_or_distribution():
    text, line = edit(r"^(\s+found_crisis_multiplier:) \{.*\}$", r"\1 high")
    (problem,) = config_error(text).problems
    assert problem[:2] == ("flow.end_of_life.found_crisis_multiplier", line)
    assert "valid number" in problem[2] and "or a distribution" in problem[2] and "'high'" in problem[2]


def test_capacity_of_text_is_one_problem():
    text, line = edit(r"^(\s+acute_beds: \{capacity:) \d+", r"\1 lots")
    (problem,) = config_error(text).problems
    assert problem[:2] == ("services.acute_beds.capacity", line)
    assert "valid integer" in problem[2]


def test_capacity_list_with_a_negative_item_names_the_item():
    years = yaml.safe_load(SMALL_TEXT)["run"]["contract_years"]
    capacities = ", ".join(["7"] * (years - 1) + ["-1"])
    text, line = edit(r"^(\s+acute_beds: \{capacity:) \d+", rf"\1 [{capacities}]")
    (problem,) = config_error(text).problems
    assert problem[:2] == (f"services.acute_beds.capacity.{years - 1}", line)
    assert "greater than or equal to 0" in problem[2]


# --- property tests: no input crashes the loader ---------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SMALL_DATA = yaml.safe_load(SMALL_TEXT)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data) -> str:
    return yaml.dump(data, Dumper=DUMPER, sort_keys=False, allow_unicode=True)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

any_value = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats() | st.text(max_size=12) | st.sampled_from([-1, 0, 1.3, -0.5, 1e308, "uniform", "status_quo"]),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)


def key_paths(node, path=()):
    """Every key path in nested dicts and lists."""
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from key_paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from key_paths(value, path + (i,))


def mutate(data, path, operation, value, new_key):
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "replace":
        parent[last] = value
    elif isinstance(parent[last], dict):
        parent[last][new_key] = value
    elif isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value


def assert_well_formed(error: ConfigError, text: str) -> None:
    n_lines = text.count("\n") + 1
    assert error.problems, "a ConfigError lists at least one problem"
    for path, line, message in error.problems:
        assert isinstance(path, str) and isinstance(message, str) and message
        assert line is None or 1 <= line <= n_lines
    assert str(error).startswith("config: ")


def parse_or_config_error(text):
    try:
        return parse(text)
    except ConfigError as error:
        assert_well_formed(error, text if isinstance(text, str) else text.decode("utf-8", "replace"))
        return error


@PROPERTY_SETTINGS
@given(st.data())
def test_mutated_config_gives_scenario_or_config_error(data):
    import copy

    config = copy.deepcopy(SMALL_DATA)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = [p for p in key_paths(config) if p]
        path = data.draw(st.sampled_from(paths), label="path")
        operation = data.draw(st.sampled_from(["delete", "replace", "add"]), label="operation")
        value = data.draw(any_value, label="value")
        mutate(config, path, operation, value, data.draw(st.text(min_size=1, max_size=10), label="new key"))
    text = dump(config)
    result = parse_or_config_error(text)
    assert isinstance(result, (Scenario, ConfigError))


PROBABILITY_PATHS = [
    ("flow", "end_of_life", "found_share"),
    ("flow", "end_of_life", "terminal_admission_death"),
    ("flow", "ed_admission_probability", 2),
    ("flow", "mortality_per_year", 4),
    ("population", "care_home_share", 3),
    ("services", "home_care", "initial_occupied"),
    ("services", "step_down_beds", "care_home_share"),
    ("run", "bcf_admissions_target"),
]


@PROPERTY_SETTINGS
@given(path=st.sampled_from(PROBABILITY_PATHS),
       value=st.floats(min_value=1.0, exclude_min=True, allow_nan=False) | st.floats(max_value=0.0, exclude_max=True))
def test_probability_outside_zero_one_never_passes(path, value):
    import copy

    config = copy.deepcopy(SMALL_DATA)
    mutate(config, path, "replace", value, "")
    error = parse_or_config_error(dump(config))
    assert isinstance(error, ConfigError)
    assert ".".join(map(str, path)) in [p[0] for p in error.problems]


@PROPERTY_SETTINGS
@given(st.data())
def test_edited_yaml_lines_give_scenario_or_config_error(data):
    lines = SMALL_TEXT.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        edit_kind = data.draw(st.sampled_from(["delete", "duplicate", "insert", "indent", "truncate"]), label="edit")
        if edit_kind == "delete":
            del lines[i]
        elif edit_kind == "duplicate":
            lines.insert(i, lines[i])
        elif edit_kind == "insert":
            lines.insert(i, data.draw(st.text(alphabet=" :-[]{}#&*!|>'\",?%@abc019.\t", max_size=20), label="new line"))
        elif edit_kind == "indent":
            lines[i] = " " * data.draw(st.integers(0, 6), label="spaces") + lines[i].lstrip()
        else:
            lines[i] = lines[i][: data.draw(st.integers(0, max(0, len(lines[i]) - 1)), label="cut")]
    result = parse_or_config_error("\n".join(lines) + "\n")
    assert isinstance(result, (Scenario, ConfigError))


@PROPERTY_SETTINGS
@given(st.text() | st.text(alphabet=" \n\t:-[]{}#&*!|>'\",?%@abc019.~", max_size=200))
def test_random_text_is_a_config_error(text):
    assert isinstance(parse_or_config_error(text), ConfigError)


@PROPERTY_SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_are_a_config_error(blob):
    assert isinstance(parse_or_config_error(blob), ConfigError)


def test_no_number_of_the_place_accepts_yes_or_no():
    # YAML 1.1 reads yes/no/on/off as booleans, which pydantic would take as 1 and 0.
    import copy

    numeric = [p for p in key_paths(SMALL_DATA)
               if p and p[0] not in ("arms", "sources")
               and isinstance(_get(SMALL_DATA, p), (int, float)) and not isinstance(_get(SMALL_DATA, p), bool)]
    assert len(numeric) > 100
    for path in numeric:
        config = copy.deepcopy(SMALL_DATA)
        mutate(config, path, "replace", True, "")
        # Validated straight from the data (parse() adds only YAML reading, tested above).
        with pytest.raises(ValidationError) as info:
            Scenario.model_validate(config)
        assert "is not a number" in str(info.value), f"{path}: {info.value}"
    # And through parse(), with its key path, for a few.
    for path in numeric[::40]:
        config = copy.deepcopy(SMALL_DATA)
        mutate(config, path, "replace", True, "")
        error = parse_or_config_error(dump(config))
        assert [p[0] for p in error.problems] == [".".join(map(str, path))], error.problems


def _get(data, path):
    for part in path:
        data = data[part]
    return data

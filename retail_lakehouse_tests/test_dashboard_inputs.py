"""Whatever a client sends, the dashboard answers with a view or a sentence and a link back, never an HTTP 500.

An address is typed by anyone, and a Dash callback request is a JSON body anyone can post: the dropdowns'
values, the clicked point and the address all arrive unchecked. Properties over arbitrary inputs (Hypothesis)
prove that parsing and rendering raise nothing but the defined `BadAddress`; requests through Dash's own HTTP
endpoint prove that the crafted inputs of issue 10.8 get a 200 with a sentence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dashboard.app import GRAPHS, PICKERS, create_app, render_page, table_csv
from dashboard.responses import callback_body
from dashboard.views import BadAddress, known_filters, parse_view
from retail_lakehouse.schemas import CATEGORIES, STATE_CODES
from retail_lakehouse_tests.test_dashboard_data import write_hand_made_gold

YEARS = [2023, 2024]
KEYS = ("year", "month", "day", "week", "view", "state", "category", "other")
TRIGGERS = (None, "url", "state-filter", "category-filter", *GRAPHS, *PICKERS, "no-such-component")
ODD_NUMBERS = ["²", "٣", "99999999999999999999", "2024.0", "03", " 12 ", "1e3", "0x10", "+3", "-1", "", "all", "%00"]
NUMBERISH = st.one_of(
    st.sampled_from(ODD_NUMBERS), st.integers(-5, 40).map(str), st.integers(0, 10**25).map(str), st.text(max_size=8)
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
TOKENS = st.one_of(
    st.sampled_from(["2024", "2024-13", "2024-02-30", "2019", "2024-03-12", "2023-00", "99999", "", "BY", "XX"]),
    st.sampled_from(CATEGORIES),
    JSON,
)
CLICKS = st.one_of(JSON, TOKENS.map(lambda token: {"points": [{"customdata": token}]}))
FILTER_VALUES = st.one_of(
    st.none(), JSON, st.lists(st.one_of(st.sampled_from(STATE_CODES), st.sampled_from(CATEGORIES), JSON), max_size=4)
)


WEEKS = st.builds(
    lambda year, week, sep: f"{year}{sep}{week}",
    st.sampled_from(["2022", "2023", "2024", "2025", "9999", "0001", "0000", "²⁰²⁴"]),
    st.integers(-1, 60),
    st.sampled_from(["-W", "-w", "-W0", "W", "-"]),
)
PARAMS: dict[str, st.SearchStrategy[str]] = {
    "year": st.one_of(st.sampled_from([str(y) for y in (*YEARS, 2019, 2025)]), NUMBERISH),
    "month": st.one_of(st.integers(-1, 14).map(str), NUMBERISH),
    "day": st.one_of(st.integers(-1, 32).map(str), NUMBERISH),
    "week": st.one_of(WEEKS, NUMBERISH),
    "view": st.one_of(st.just("all"), NUMBERISH),
    "state": st.one_of(st.sampled_from(STATE_CODES), st.sampled_from(["XX", "by", ""])),
    "category": st.one_of(st.sampled_from(CATEGORIES), st.text(max_size=8)),
    "other": NUMBERISH,
}


PICKED = st.one_of(
    st.sampled_from([2019, 2023, 2024, 0, 3, 12, 13, -1, True, 2.5, "2024", "²"]), WEEKS, NUMBERISH, JSON
)
SHAPES = [("year",), ("year", "month"), ("year", "month", "day"), ("week",), ("view",), ("month", "day")]


@st.composite
def searches(draw: st.DrawFn) -> str:
    """Query strings: mostly the dashboard's own keys with odd values, sometimes anything at all."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=40))
    keys = list(draw(st.sampled_from(SHAPES))) + draw(st.lists(st.sampled_from(KEYS), max_size=3))
    pairs = [(key, draw(PARAMS[key])) for key in draw(st.permutations(keys))]
    return "?" * draw(st.booleans()) + "&".join(f"{key}={value}" for key, value in pairs)


def issue_example(search: str, trigger: str | None = None, states: Any = None, click: Any = None) -> Any:
    """One of the inputs issue 10.8 reported, run as an explicit example of the rendering property."""
    return example(search=search, states=states, categories=None, trigger=trigger, click=click, picked=None).via(
        "issue 10.8"
    )


ISSUE_10_8 = ["?year=²", "?year=2024&month=3&day=99999999999999999999", "?week=9999-W52"]


@pytest.fixture(scope="module")
def gold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hand_made_gold(tmp_path_factory.mktemp("inputs") / "data")


@settings(max_examples=300, deadline=None)
@given(search=st.one_of(searches(), st.none(), JSON))
@example(search=ISSUE_10_8[0]).via("issue 10.8")
@example(search=ISSUE_10_8[1]).via("issue 10.8")
@example(search=ISSUE_10_8[2]).via("issue 10.8")
def test_parse_view_returns_a_view_of_gold_or_raises_bad_address(search: Any) -> None:
    try:
        view = parse_view(search, YEARS)
    except BadAddress as error:
        assert str(error) and "\n" not in str(error)
        return
    # A view it returns is one gold can show, and its own address leads back to it.
    assert set(view.filters.states) <= set(STATE_CODES) and set(view.filters.categories) <= set(CATEGORIES)
    if view.level != "all":
        assert view.period.touches(YEARS)
    assert parse_view(view.search(), YEARS) == view


@settings(max_examples=100, deadline=None)
@given(
    search=st.one_of(searches(), st.none(), JSON),
    states=FILTER_VALUES,
    categories=FILTER_VALUES,
    trigger=st.sampled_from(TRIGGERS),
    click=CLICKS,
    picked=PICKED,
)
@issue_example(ISSUE_10_8[0])
@issue_example(ISSUE_10_8[1], trigger="url")
@issue_example(ISSUE_10_8[2])
@issue_example("?year=2024", trigger="state-filter", states=["XX"])
@issue_example("?year=2024", trigger="trend-graph", click={"points": [{"customdata": "2024-13"}]})
def test_render_page_never_raises_on_any_input(
    gold: Path, search: Any, states: Any, categories: Any, trigger: str | None, click: Any, picked: Any
) -> None:
    outputs = render_page(gold, search, states, categories, trigger, click, picked)
    if outputs["body_style"] == {"display": "none"}:  # the message path: a sentence and the link back
        assert "Back to the latest year" in str(outputs["message"])
        return
    # A view is drawn, with only known filters in the dropdowns and in the address it writes.
    assert set(outputs["states"]) <= set(STATE_CODES) and set(outputs["categories"]) <= set(CATEGORIES)
    if isinstance(outputs["search"], str):
        assert parse_view(outputs["search"], YEARS).filters.states == tuple(outputs["states"])


@settings(max_examples=60, deadline=None)
@given(search=st.one_of(searches(), JSON), table=st.one_of(st.sampled_from(["products", "stores", "Products"]), JSON))
def test_a_csv_download_is_a_table_in_view_or_nothing(gold: Path, search: Any, table: Any) -> None:
    found = table_csv(gold, search, table)
    if found is not None:
        name, text = found
        assert name.endswith(f"_top-{table}.csv") and text.startswith("rank,")


def test_unknown_filter_values_are_dropped_and_explained() -> None:
    filters, notes = known_filters(["BY", "XX", "BY", 7, None], "Bakery")
    assert filters.states == ("BY",) and filters.categories == ("Bakery",)
    assert notes == [
        "Ignored the unknown federal state “XX”.",
        "Ignored the unknown federal state “7”.",
        "Ignored the unknown federal state “None”.",
    ]
    filters, notes = known_filters({"a": 1}, None)
    assert filters == known_filters(None, None)[0] and notes == [
        "Ignored the state filter “{'a': 1}”: it is not a list of names."
    ]


def test_a_crafted_state_filter_shows_the_view_with_a_note(gold: Path) -> None:
    outputs = render_page(gold, "?year=2024&month=3", ["BY", "XX"], None, "state-filter")
    assert outputs["states"] == ["BY"] and outputs["search"] == "?year=2024&month=3&state=BY"
    assert "Ignored the unknown federal state “XX”." in str(outputs["message"])
    assert outputs["body_style"] == {}


def test_a_click_on_a_month_gold_cannot_have_keeps_the_view_and_says_why(gold: Path) -> None:
    click = {"points": [{"customdata": "2024-13"}]}
    outputs = render_page(gold, "?year=2024", None, None, "trend-graph", click)
    assert "There is no month 13" in str(outputs["message"]) and outputs["body_style"] == {}
    assert str(outputs["heading"]).startswith("['2024'")
    year_click = {"points": [{"customdata": "2019"}]}
    assert "no data for 2019" in str(render_page(gold, "?view=all", None, None, "trend-graph", year_click)["message"])


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("?year=²", "“²” is not a year"),
        ("?year=2024&month=3&day=99999999999999999999", "“99999999999999999999” is not a day"),
        ("?year=2024&month=3&day=0", "March 2024 has no day 0"),
        ("?week=9999-W52", "There is no data for week 9999-W52"),
        ("?week=2024-W53", "2024 has no week 53"),
        ("?year=" + "9" * 200, "is not a year"),
    ],
)
def test_addresses_of_issue_10_8_get_a_sentence(gold: Path, search: str, message: str) -> None:
    with pytest.raises(BadAddress, match=message):
        parse_view(search, YEARS)
    page = render_page(gold, search)
    assert message in str(page["message"]) and "Back to the latest year" in str(page["message"])
    assert len(str(page["message"])) < 1000  # a 200-digit year is cut short in the sentence


def page_callback(search: Any, states: Any = None, **clicks: Any) -> tuple[dict[str, Any], str]:
    """Values and the changed input for the page's main callback: an address, a state filter or a click."""
    values = {"url.search": search, "state-filter.value": states}
    values |= {f"{graph}.clickData": click for graph, click in clicks.items()}
    changed = next(iter(clicks), None)
    return values, (f"{changed}.clickData" if changed else "state-filter.value" if states else "url.search")


@pytest.fixture(scope="module")
def client(gold: Path) -> Any:
    return create_app(gold).server.test_client()


@pytest.fixture(scope="module")
def dependencies(client: Any) -> list[dict[str, Any]]:
    return json.loads(client.get("/_dash-dependencies").data)


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({"search": "?year=²"}, "“²” is not a year"),
        ({"search": "?year=2024&month=3&day=99999999999999999999"}, "is not a day"),
        ({"search": "?week=9999-W52"}, "There is no data for week 9999-W52"),
        ({"search": "?year=2024", "states": ["XX"]}, "Ignored the unknown federal state “XX”."),
        ({"search": "?year=2024", "trend-graph": {"points": [{"customdata": "2024-13"}]}}, "There is no month 13"),
        ({"search": "?year=2024", "state-graph": {"points": [{"customdata": "XX"}]}}, "unknown federal state “XX”"),
        ({"search": 12}, "“12” is not an address"),
    ],
)
def test_crafted_callback_requests_are_answered_with_a_sentence(
    client: Any, dependencies: list[dict[str, Any]], body: dict, sentence: str
) -> None:
    response = client.post("/_dash-update-component", json=callback_body(dependencies, *page_callback(**body)))
    assert response.status_code == 200
    message = json.loads(response.data)["response"]["message"]["children"]
    assert sentence in json.dumps(message, ensure_ascii=False)


def test_a_picker_value_no_menu_offers_is_answered_with_a_sentence(
    client: Any, dependencies: list[dict[str, Any]]
) -> None:
    values = {"url.search": "?year=2024", "month-picker.value": {"x": [13]}}
    response = client.post("/_dash-update-component", json=callback_body(dependencies, values, "month-picker.value"))
    assert response.status_code == 200
    assert "is not a month to open" in json.dumps(json.loads(response.data)["response"]["message"], ensure_ascii=False)


def test_the_csv_callback_sends_the_table_or_nothing(client: Any, dependencies: list[dict[str, Any]]) -> None:
    button = '{"table":"products","type":"csv"}.n_clicks'
    download = next(d for d in dependencies if d["output"] == "download.data")
    pressed = {"id": {"type": "csv", "table": "products"}, "property": "n_clicks", "value": 1}

    def post(search: Any, inputs: list[Any]) -> Any:
        body = {
            "output": "download.data",
            "outputs": {"id": "download", "property": "data"},
            "inputs": [inputs],
            "changedPropIds": [button],
            "state": [dict(download["state"][0], value=search)],
        }
        return client.post("/_dash-update-component", json=body)

    sent = post("?year=2024&month=3", [pressed])
    assert sent.status_code == 200
    assert json.loads(sent.data)["response"]["download"]["data"]["filename"] == "2024-03_top-products.csv"
    # An address that shows no table, a crafted button, a button not pressed: nothing to send, and no 500.
    for search, button_input in [
        ("?year=²", pressed),
        ("?year=2024", dict(pressed, id={"type": "csv", "table": ["x"]})),
        ("?year=2024", dict(pressed, value=None)),
    ]:
        answer = post(search, [button_input])
        assert answer.status_code in (200, 204) and b'"download"' not in answer.data


def test_a_malformed_callback_request_is_a_400_not_a_500(client: Any) -> None:
    response = client.post("/_dash-update-component", json={"output": "heading.children"})
    assert response.status_code == 400
    assert b"could not read this callback request" in response.data


def test_any_address_serves_the_page(client: Any) -> None:
    for address in ("/?year=²", "/?week=9999-W52", "/no/such/page?x=%ff"):
        assert client.get(address).status_code == 200


def test_a_filter_chosen_on_an_error_page_opens_the_latest_year(gold: Path) -> None:
    outputs = render_page(gold, "?year=²", [], None, "state-filter")
    assert outputs["search"] == "?year=2024" and outputs["message"] is None

"""Differential fuzzing of SQL scalar functions and type coercion against DuckDB (see
``fn_fuzz.py``), plus every failure it found.

A query either gives DuckDB's values (with the same kind of type) or is refused with a
``ThresherError``; any other exception, a failure while running, or a different answer fails. The
run also checks that refusals stay rare, so "refuse everything" cannot pass, and each DuckDB
function Thresher does not have is refused with an error that names it.
"""

from __future__ import annotations

import datetime
import decimal
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import reject

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fn_fuzz import REFUSED_CALLS, differences, queries, tables  # noqa: E402

import thresher as th  # noqa: E402
from fuzz_support import assert_mostly_supported, run_cases  # noqa: E402
from thresher.errors import ThresherExecutionError, ThresherIOError  # noqa: E402

duckdb = pytest.importorskip("duckdb")


def run_one(table: pa.Table, query: str) -> str:
    """``"match"`` or ``"refused: ..."``; raises AssertionError on a wrong answer or a crash."""
    con = duckdb.connect()
    con.register("t", table)
    try:
        want = con.sql(query).to_arrow_table()
    except duckdb.Error:
        reject()  # an error in DuckDB too (a CAST of invalid text, ...)
    try:
        got = th.sql(query, t=th.from_arrow(table)).to_arrow()
    except (ThresherExecutionError, ThresherIOError) as exc:  # a failure while running is a bug, not a refusal
        if "is not supported" in str(exc):  # ... unless it says so (TRY_CAST of text Thresher cannot read)
            return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
        if "could not convert string" in str(exc):
            # text CAST does not read: invalid (in a branch DuckDB never evaluated: it evaluates
            # COALESCE and CASE lazily, Thresher every branch), or a form only DuckDB reads
            # ('12024-02-29', '2024/02/29'); an error either way, never a wrong value
            return "refused: could not convert string"
        raise AssertionError(f"{query}\ntable: {table.to_pydict()}\nfailed while running: {exc}") from exc
    except th.ThresherError as exc:
        return f"refused: {type(exc).__name__}: {str(exc)[:100]}"
    except Exception as exc:  # noqa: BLE001  (the point: anything else is a bug)
        raise AssertionError(f"{query}\ncrashed with {type(exc).__name__}: {exc}") from exc
    diff = differences(got, want)
    assert diff is None, f"{query}\ntable: {table.to_pydict()}\n{diff}"
    return "match"


def fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((tables(), queries()), run_one, n, seed)


def _assert_mostly_supported(stats: Counter[str]) -> None:
    assert_mostly_supported(stats, 0.1)


def test_sql_function_fuzz_against_duckdb() -> None:
    _assert_mostly_supported(fuzz(60))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_sql_function_fuzz_against_duckdb_long(seed: int) -> None:
    _assert_mostly_supported(fuzz(1500, seed))


T = pa.table({"id": pa.array([0, 1], pa.int64()), "i": pa.array([1, None], pa.int64()),
              "f": pa.array([0.5, None]), "s": pa.array(["a,b", None]),
              "d": pa.array([datetime.date(2024, 2, 29), None])})


@pytest.mark.parametrize("name", sorted(REFUSED_CALLS))
def test_unsupported_function_is_refused_by_name(name: str) -> None:
    """A DuckDB function Thresher does not have is an error naming it, never another function's answer."""
    call = REFUSED_CALLS[name]
    fn = name.split("#")[0]
    with pytest.raises(th.ThresherError, match=f"(?i){fn}"):
        th.sql(f"SELECT {call} AS c FROM t", t=th.from_arrow(T)).to_arrow()


# -- every failure the fuzzer found, kept as a regression test ------------------------------------

def _table(**cols: list[object]) -> pa.Table:
    from fn_fuzz import COLUMNS

    n = len(next(iter(cols.values())))
    data = {"id": pa.array(range(n), pa.int64())}
    for c, values in cols.items():
        data[c] = pa.array(values, COLUMNS[c][0])
    return pa.table(data)


D, TS = datetime.date, datetime.datetime
STRS = _table(s=["Hello", "", "日本語", None, "ab"])
TEXT = _table(s=[" 12 ", "1.5", "2.5", "-2.5", "+4", "1e2", "abc", None, "yes", "F", "-0"])
DAYS = _table(s=["2024-02-29", " 2024-1-5 ", "abc", None], u=["2024-02-29 23:59:59.5", "2024-02-29", "x", None], d=[D(2024, 2, 29), D(2024, 1, 1), None, D(1999, 12, 31)],
              ts=[TS(2024, 2, 29, 23, 59, 59, 500000), TS(2023, 12, 31), TS(2024, 1, 1, 0, 0, 0, 120000), None])
NUMS = _table(i=[1, 2, None, -7], j=[2, 1, 3, None], f=[1e-05, 1e-07, float("nan"), -1.5e-05],
              s=["a", None, "", "b"], d=[D(2024, 2, 29), None, D(2023, 12, 31), D(2024, 3, 1)])

REGRESSIONS: dict[str, tuple[pa.Table, str]] = {
    # SUBSTRING's start 0 is before the first character ('h', was 'o': Polars read offset -1 from
    # the end), a negative start counts from the end and a negative length takes what precedes
    # the start (both were refused)
    "substring_zero_negative_start_and_length": (
        STRS, "SELECT id, substring(s, 0, 2) AS c0, substring(s, -2, 2) AS c1, substring(s, -2) AS c2, "
              "substring(s, 3, -2) AS c3, substr(s, -7, 3) AS c4, substring(s FROM 0 FOR 3) AS c5 FROM t"),
    # CAST/TRY_CAST of text read it as DuckDB does: ' 12 ' is 12 and '1.5' 2 (TRY_CAST gave NULL
    # for both), 'yes' is true (a crash: Polars has no text-to-boolean cast)
    "cast_of_text_to_numbers_and_booleans": (
        TEXT, "SELECT id, TRY_CAST(s AS INTEGER) AS c0, TRY_CAST(s AS DOUBLE) AS c1, TRY_CAST(s AS DECIMAL(9, 1)) AS c2, "
              "TRY_CAST(s AS BOOLEAN) AS c3, TRY_CAST(s AS SMALLINT) AS c4 FROM t"),
    "cast_of_text_to_integer_rounds": (
        TEXT, "SELECT id, CAST(s AS INTEGER) AS c0 FROM t WHERE s IN (' 12 ', '1.5', '2.5', '-2.5', '+4', '1e2')"),
    # text to DATE and TIMESTAMP (a crash: Polars 2 has no such cast), TIMESTAMP literals (a crash)
    "cast_of_text_to_dates_and_timestamps": (
        DAYS, "SELECT id, TRY_CAST(s AS DATE) AS c0, TRY_CAST(u AS TIMESTAMP) AS c1, TIMESTAMP '2024-02-29 12:00:00' "
              "AS c2, CAST(' 2024-1-5' AS DATE) AS c3, CAST(CAST(d AS VARCHAR) AS TIMESTAMP) AS c4 FROM t"),
    # a DOUBLE and a TIMESTAMP as text are written as DuckDB writes them: '1e-05' (was '0.00001'),
    # '1e-07' (was '1e-7'), 'nan' (was 'NaN'), '2024-02-29 23:59:59.5' (was '...59.500000')
    "cast_of_doubles_and_timestamps_to_text": (
        _table(f=[1e-05, 1e-07, float("nan"), -1.5e-05], ts=[TS(2024, 2, 29, 23, 59, 59, 500000), TS(2023, 12, 31),
                                                            TS(2024, 1, 1, 0, 0, 0, 120000), None]),
        "SELECT id, CAST(f AS VARCHAR) AS c0, CAST(ts AS VARCHAR) AS c1, CAST(f * 10 AS TEXT) AS c2 FROM t"),
    # a DATE shifted by hours, minutes or seconds is a TIMESTAMP: d - INTERVAL 13 MINUTE was the
    # day before (Polars truncated it back to a date), and sqlglot folded DATE '2023-12-31' -
    # INTERVAL 12 HOUR to the DATE 2023-12-30
    "date_shifted_by_hours": (
        DAYS, "SELECT id, d - INTERVAL 13 MINUTE AS c0, DATE '2023-12-31' - INTERVAL 12 HOUR AS c1, "
              "(DATE '2023-12-31' - INTERVAL 1 MINUTE) - INTERVAL 25 HOUR AS c2, d + INTERVAL 36 HOURS AS c3 FROM t"),
    # UPPER/LOWER map each character alone, as DuckDB: upper('ß') was 'SS' (not 'ẞ'), lower('ΑΣ')
    # 'ας' (not 'ασ'), lower('İ') 'i̇' (not 'i'), Polars' full Unicode mappings
    "upper_lower_character_by_character": (
        _table(s=["ß", "Straße", "ΑΣ Α", "İstanbul", "ﬁne", "Hello", None, "", "ᾀb"]),
        "SELECT id, upper(s) AS c0, lower(s) AS c1, upper(lower(s)) AS c2 FROM t"),
    # a DATE literal plus months clamped February to 28 days in a leap year too: DATE '2023-12-31'
    # + INTERVAL 2 MONTHS was 2024-02-28 (DuckDB: 2024-02-29)
    "date_literal_plus_months_in_a_leap_year": (
        DAYS, "SELECT id, CAST(DATE '2023-12-31' + INTERVAL 2 MONTHS AS DATE) AS c0, "
              "CAST(DATE '2024-03-31' - INTERVAL 1 MONTH AS DATE) AS c1, CAST(DATE '2024-02-29' + INTERVAL 1 YEAR AS DATE) "
              "AS c2, CAST(DATE '2000-01-31' + INTERVAL 1 MONTH AS DATE) AS c3 FROM t"),
    # TRY_CAST of a number too wide for the DECIMAL is NULL (failed while running: Polars' non-strict
    # cast raised "decimal precision 9 can't fit values with 11 digits"); found by the function
    # fuzzer (seed 11: TRY_CAST(epoch(d) AS DECIMAL(9, 2)))
    "try_cast_to_a_too_narrow_decimal": (
        _table(d=[None, D(1999, 12, 31)], i=[2, None], f=[1.5, None]), "SELECT id, TRY_CAST(epoch(d) AS DECIMAL(9, 2)) AS c0, TRY_CAST(i * 1000 AS DECIMAL(4, 2)) AS c1, "
              "TRY_CAST(99.96 AS DECIMAL(3, 1)) AS c2, TRY_CAST(f * 1e7 AS DECIMAL(4, 1)) AS c3, "
              "TRY_CAST(CAST(i AS DECIMAL(9, 2)) * 100 AS DECIMAL(4, 1)) AS c4 FROM t"),
    # EXTRACT is a BIGINT, as DuckDB's: extract(year from d) * 86400001 raised an Int32 overflow
    # DuckDB does not (Polars' date parts are Int32); found by the function fuzzer (seed 14)
    "extract_is_a_bigint": (
        DAYS, "SELECT id, epoch_ms(extract(year from d) * 86400001) AS c0, extract(month from d) * 1000000000 AS c1, "
              "extract(hour from ts) * 3000000000 AS c2, extract(quarter from ts) AS c3, extract(day from d) AS c4 FROM t"),
    # EXTRACT(hour | minute | second FROM <DATE>) is 0, as DuckDB's (was refused: "dt.minute: column
    # 'd' has type date32[day], expected a timestamp"), and so is DATE_PART('minute', d) (was refused
    # as an unknown function for these parts, of a timestamp too; fuzzer seed 15: in a WHERE)
    # EPOCH_MS of a DATE or TIMESTAMP in a WHERE was refused ("type error: epoch_ms: column
    # 'literal' has type timestamp[us], expected an integer": the translator does not know the
    # argument's type there and took the integer overload); function fuzzer seed 15 (7 of 500)
    "epoch_ms_of_a_timestamp_in_a_where": (
        DAYS, "SELECT id, epoch_ms(ts) AS c0 FROM t WHERE epoch_ms(d) > 0 OR id BETWEEN "
              "epoch_ms(TIMESTAMP '1970-01-01 00:00:00.002') AND epoch_ms(ts) OR epoch_ms(id) > TIMESTAMP '1970-01-01'"),
    "time_parts_of_a_date": (
        DAYS, "SELECT id, extract(minute from d) AS c0, extract(hour from d) * 3000000000 AS c1, "
              "extract(second from d) AS c2, date_part('minute', d) AS c3, date_part('hour', ts) AS c4, "
              "date_part('second', ts) AS c5, extract(minute from DATE '2020-03-04') AS c6 FROM t "
              "WHERE id = 3 OR 1 NOT BETWEEN extract(minute from d) + 2 AND 5"),
    # NULLIF with a NULL-typed side that is no literal failed while running (Polars refuses a
    # NULL-typed when() condition); found by the function fuzzer (seed 9)
    "nullif_of_a_null_typed_expression": (
        NUMS, "SELECT id, nullif(abs(NULL), i) AS c0, nullif(i, abs(NULL)) AS c1, nullif(upper(NULL), s) AS c2 FROM t"),
    # a NULL literal in a string or numeric function crashed (Polars has no upper or abs of its null type)
    "functions_of_null": (
        STRS, "SELECT id, upper(lower(NULL)) AS c0, -NULL AS c1, abs(abs(NULL)) AS c2, substr(lower(NULL), 3, 1) AS c3, "
              "round(NULL, 1) AS c4 FROM t"),
    # x IN (1, 2.5) of an integer x crashed (2.5 in an Int64 Series)
    "in_list_of_mixed_numbers": (
        NUMS, "SELECT id, i IN (1, 2.5) AS c0, j NOT IN (2.0, 3) AS c1, CASE WHEN TRUE THEN j ELSE NULL END IN (1, 2.5) "
              "AS c2 FROM t"),
    # Polars' eager select folded DATE '2024-02-29' >= coalesce(DATE '2024-02-29', d) to one value
    # it then would not broadcast next to a column (a crash)
    "folded_date_comparison_next_to_a_column": (
        NUMS, "SELECT id, (coalesce(DATE '2024-02-29', d) >= (DATE '2023-12-31' - 31)) AS c0, "
              "coalesce(d, DATE '2024-01-01') AS c1 FROM t"),
    # LIKE ... ESCAPE (was refused) and || of a number (was refused: SQL casts it to VARCHAR)
    "like_escape_and_concat_of_numbers": (
        _table(s=["a_b", "a%", "ab", "a!", None], i=[1, None, -2, 3, 4]),
        "SELECT id, s LIKE 'a!_%' ESCAPE '!' AS c0, s NOT LIKE 'a!%' ESCAPE '!' AS c1, i || s AS c2, "
        "concat(s, i, 0.5) AS c3 FROM t"),
    # DuckDB's string functions (were refused): positions in code points, NULL in NULL out
    "trim_with_and_without_characters": (
        _table(s=["  a  ", "xxaxx", "\u00a0a\u3000", "\ta\n", "", None, "ß ß", "aaa"], u=["a", "x", " ", "a", None, "ß", "ß ", "a"]),
        # trim() strips Unicode's space separators (NBSP, U+3000) but not a tab or a newline;
        # trim(s, '') is s; trim('abs') is the text 'abs' (was read as a call of abs)
        "SELECT id, trim(s) AS c0, ltrim(s) AS c1, rtrim(s) AS c2, trim(s, u) AS c3, ltrim(s, 'xa') AS c4, "
        "rtrim(s, '') AS c5, trim(s, NULL) AS c6, trim('abs') AS c7, TRIM(LEADING 'x' FROM s) AS c8 FROM t"),
    "replace_all_occurrences_literally": (
        _table(s=["aaa", "a.a", "", None, "Straße", "a%_"], u=["X", "", None, "ss", "y", "."]),
        # every occurrence, '.' and '%' literally; an empty pattern leaves the text as it is
        "SELECT id, replace(s, 'a', u) AS c0, replace(s, '.', 'X') AS c1, replace(s, '', 'Z') AS c2, "
        "replace(s, 'ß', u) AS c3, replace(s, NULL, 'a') AS c4, replace(s, '%_', '') AS c5 FROM t"),
    "starts_with_contains_strpos": (
        _table(s=["ab日c", "abc", None, "", "naïve", "e\u0301x"], u=["c", "", "a", "", "ï", "x"]),
        # strpos counts characters (Polars' find gives a byte offset: 'c' in 'ab日c' was 6), '' is at 1
        "SELECT id, starts_with(s, u) AS c0, contains(s, u) AS c1, strpos(s, u) AS c2, position('c' IN s) AS c3, "
        "instr(s, 'z') AS c4, strpos(s, '') AS c5, contains(s, NULL) AS c6 FROM t"),
    "left_right_lpad_rpad": (
        _table(s=["abc", "日本語", "", None, "e\u0301x", "ß"], i=[2, -1, 0, 1, 1, None]),
        # a negative count drops that many from the other end; lpad/rpad cut text longer than n
        "SELECT id, left(s, i) AS c0, right(s, i) AS c1, left(s, -2) AS c2, right(s, 10) AS c3, lpad(s, 5, 'xy') AS c4, "
        "rpad(s, 2, '*') AS c5, lpad(s, -1, 'x') AS c6, rpad(s, 4, 'ä') AS c7, lpad(s, NULL, 'x') AS c8, "
        # an empty fill with a length of 0 or below failed while running (an unsigned comparison)
        "lpad(s, -1, '') AS c9, rpad(s, 0, '') AS c10 FROM t"),
    "split_part_positions": (
        _table(s=["a,b,,c", "abc", "", None, "a,b", "abc"], u=[",", "", ",", ",", None, ""], i=[2, 2, 1, 1, 1, -2]),
        # 1-based, negative from the end, 0 or out of range ''; an empty delimiter splits characters
        "SELECT id, split_part(s, u, i) AS c0, split_part(s, ',', 0) AS c1, split_part(s, ',', -1) AS c2, "
        "split_part(s, ',', 9) AS c3, split_part(s, ',', -9) AS c4, split_part(s, '', 2) AS c5, "
        # (a constant text split by a column's '': Polars added an empty part at each end)
        "split_part('2024-02-29', u, 2) AS c6, split_part('abc', '', -3) AS c7, split_part(s, '', -4) AS c8 FROM t"),
    # a constant text with a column argument: replace('', 'a', s) failed while running (Polars'
    # replace_all of a constant by a column's values)
    "constant_text_with_column_arguments": (
        _table(s=[None, "", "x", ","], i=[1, 2, None, -1]),
        "SELECT id, replace('', 'a', s) AS c0, replace('aba', 'a', s) AS c1, trim('xax', s) AS c2, "
        "split_part('a,b', s, i) AS c3, left('abc', i) AS c4, strpos('a,b', s) AS c5, starts_with('xy', s) AS c6, "
        "replace(lower('ABA'), 'a', s) AS c7, replace(coalesce(NULL, 'aa'), 'a', s) AS c8 FROM t"),
    # a NULL replacement in a column failed while running (Polars' replace_all refuses a NULL value)
    "replace_by_a_null_column_value": (
        _table(s=[None]), "SELECT id, upper(replace(s, 'a', s)) AS c0, starts_with(s, replace(s, 'a', s)) AS c1 FROM t"),
    "reverse_and_concat_ws": (
        _table(s=["abc", "日本語", "", None, "İß"], i=[1, None, 3, 4, 5]),
        # concat_ws took its separator for a part (concat_ws(',', s, s) was ',aa'); it skips NULLs
        "SELECT id, reverse(s) AS c0, concat_ws(',', s, i, s) AS c1, concat_ws('', s, NULL) AS c2, "
        "concat_ws(NULL, s) AS c3 FROM t"),
}


def test_reverse_of_combining_characters_is_refused() -> None:
    """DuckDB reverses grapheme clusters (reverse('e\u0301x') is 'xe\u0301'): refused, not reversed by code point."""
    table = _table(s=["abc", "e\u0301x"])
    assert run_one(table, "SELECT id, reverse(s) AS c0 FROM t WHERE s = 'abc'") == "match"
    with pytest.raises(th.ThresherError, match="grapheme"):
        th.sql("SELECT reverse(s) AS c FROM t", t=th.from_arrow(table)).to_arrow()


def test_string_function_needing_a_literal_says_so() -> None:
    t = th.from_arrow(_table(s=["a"], i=[2]))
    for call in ("lpad(s, i, 'x')", "replace(s, s, 'x')", "concat_ws(s, s)"):
        with pytest.raises(th.ThresherError, match="literal"):
            th.sql(f"SELECT {call} AS c FROM t", t=t).to_arrow()
    with pytest.raises(th.ThresherError, match="(?i)lpad"):
        th.sql("SELECT lpad(s, 3) AS c FROM t", t=t).to_arrow()


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_function_fuzzer_regression(name: str) -> None:
    table, query = REGRESSIONS[name]
    assert run_one(table, query) == "match"


# -- DuckDB's numeric and date functions: the corners, values and exact result types -------------

_CORNERS = _table(
    i=[None, 0, -7, 3, 10, -1], j=[1, None, -2, 0, 2, -1], f=[None, -0.0, -0.5, 2.5, 1e-7, -2.5],
    m=[None, *(decimal.Decimal(x) for x in ["-2.45", "-0.01", "9.99", "0.00", "-0.50"])],
    d=[None, datetime.date(2021, 1, 3), datetime.date(2024, 12, 30), datetime.date(1969, 12, 31),
       datetime.date(2024, 2, 29), datetime.date(1970, 1, 1)],
    ts=[None, datetime.datetime(2024, 2, 29, 23, 59), None, datetime.datetime(1969, 12, 31, 23, 59, 59),
        datetime.datetime(2023, 1, 1), datetime.datetime(1999, 12, 31, 23, 59, 59)])

NUMERIC_AND_DATE_FUNCTIONS = {
    # FLOOR/CEIL: an integer gives a DOUBLE, a DECIMAL(p, s) DECIMAL(p, 0); ceil(-0.5) is -0.0
    "floor_ceil": "SELECT id, floor(i) AS a, ceil(j) AS b, floor(f) AS c, ceiling(f) AS d, floor(m) AS e, ceil(m) AS g, "
                  "floor(NULL) AS h FROM t",
    # SIGN is a TINYINT, 0 for -0.0
    "sign": "SELECT id, sign(i) AS a, sign(f) AS b, sign(m) AS c, sign(NULL) AS d, sign(ln(-1 + 0 * f)) AS e, "
            "sign(CAST('nan' AS DOUBLE)) AS g FROM t",
    # GREATEST/LEAST skip NULLs (NULL only where every argument is)
    "greatest_least": "SELECT id, greatest(i, j) AS a, least(i, NULL) AS b, greatest(f, i) AS c, "
                      "greatest(d, ts) AS e, least(d, DATE '2024-01-01') AS g, least(NULL, NULL) AS h FROM t",
    # a DECIMAL and an integer: a DECIMAL wide enough for the integer's digits (found by the fuzzer,
    # seed 8: greatest(CAST(-0.5 AS DECIMAL(4, 1)), <a BIGINT 1440>) failed while running)
    "greatest_least_of_decimal_and_integers": "SELECT id, greatest(CAST(-0.5 AS DECIMAL(4, 1)), i * 1000) AS a, "
                      "least(m, j) AS b, greatest(m, CAST(i AS SMALLINT)) AS c, "
                      "least(CAST(m AS DECIMAL(38, 2)), i) AS e FROM t",
    # dow 0 on Sunday, isodow 7; week is ISO (2021-01-03 in week 53, 2024-12-30 in week 1)
    "date_parts": "SELECT id, year(d) AS a, month(ts) AS b, day(d) AS c, dayofweek(d) AS e, extract(dow FROM d) AS f, "
                  "extract(isodow FROM ts) AS g, extract(doy FROM d) AS h, extract(week FROM d) AS k, "
                  "date_part('quarter', d) AS l, date_part('week', ts) AS m, date_part('isodow', d) AS n FROM t",
    # ln(0) is -inf and ln(-1) NaN (no error); LOG(x) is base 10; LOG(b, x) is ln(x) / ln(b) (log(1, 8) inf)
    "exp_ln_log_power": "SELECT id, exp(f) AS a, ln(f) AS b, log(f) AS c, log10(m) AS d, log(2, i) AS e, "
                        "power(f, 2) AS g, pow(i, j) AS h, ln(i) AS k, power(m, 0.5) AS l, exp(NULL) AS n, "
                        "log(j, f) AS o FROM t",
    # DATE_TRUNC of a DATE is a TIMESTAMP; weeks start on Monday (2021-01-03 is in the week of 2020-12-28)
    "date_trunc": "SELECT id, date_trunc('month', d) AS a, date_trunc('week', d) AS b, date_trunc('quarter', ts) AS c, "
                  "date_trunc('year', d) AS d, date_trunc('day', ts) AS e, date_trunc('hour', ts) AS g, "
                  "date_trunc('millisecond', ts) AS k, date_trunc('microsecond', d) AS l FROM t",
    # DATE_DIFF counts the boundaries crossed (1969-12-31 to 1970-01-01 is a year; 23:59 to 00:00 a day)
    "date_diff": "SELECT id, date_diff('day', d, DATE '2024-03-01') AS a, datediff('month', d, ts) AS b, "
                 "date_diff('year', ts, d) AS c, date_diff('quarter', d, DATE '2024-04-01') AS e, "
                 "date_diff('days', ts, TIMESTAMP '2024-03-01 00:00:00') AS g, date_diff('year', d, NULL) AS h FROM t",
    # found by the fuzzer (seed 21): an integer literal that does not fit the other operand's type
    # (2024 and a TINYINT) crashed (Polars widened the product to Int16 but reported Int8)
    "literal_times_tinyint": "SELECT id, date_part('year', DATE '2024-02-29') * sign(i) AS a, "
                             "2024 * CAST(j AS TINYINT) AS b, CAST(j AS SMALLINT) - 100000 AS c FROM t",
    # an interval of years and months is one shift of months, as DuckDB holds it: 2024-02-29 - '1 year
    # 2 months' is 2022-12-29 (Thresher shifted by the year, to 2023-02-28, then the months: 2022-12-28)
    "interval_of_years_and_months": "SELECT id, d - INTERVAL '1 year 2 months' AS a, d + INTERVAL '1 year 1 month' AS b, "
                                    "ts - INTERVAL '2 years 11 months' AS c, d + INTERVAL '-1 year 13 months 1 day' AS e, "
                                    "DATE '2024-02-29' + INTERVAL '1 year 1 month' AS g FROM t",
    "last_day_make_date": "SELECT id, last_day(d) AS a, last_day(ts) AS b, make_date(2024, 2, 29) AS c, "
                          "make_date(year(d), month(d), day(d)) AS e, make_date(NULL, 1, 1) AS g FROM t",
}


def test_make_date_of_no_such_day_is_an_error() -> None:
    with pytest.raises(ThresherExecutionError, match="make_date"):
        th.sql("SELECT make_date(2023, 2, 29) AS c FROM t", t=th.from_arrow(_CORNERS)).to_arrow()
    with pytest.raises(ThresherExecutionError, match="make_date"):
        th.sql("SELECT make_date(year(d), 2, 29 + 0 * i) AS c FROM t", t=th.from_arrow(_CORNERS)).to_arrow()


@pytest.mark.parametrize("name", sorted(NUMERIC_AND_DATE_FUNCTIONS))
def test_numeric_and_date_functions_match_duckdb(name: str) -> None:
    query = NUMERIC_AND_DATE_FUNCTIONS[name]
    assert run_one(_CORNERS, query) == "match"
    con = duckdb.connect()
    con.register("t", _CORNERS)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, t=th.from_arrow(_CORNERS)).to_arrow()
    for field in want.schema:  # the exact types too (a NULL column aside: DuckDB types it by the function)
        if (field.name == "h" and name in ("greatest_least", "date_diff")) or name == "literal_times_tinyint":
            continue  # (Thresher's product of integers is a BIGINT)
        assert got.schema.field(field.name).type == field.type, (name, field.name)
    if name in ("floor_ceil", "sign", "greatest_least"):  # (-0.0 stays -0.0)
        assert [str(x) for x in got.column("c").to_pylist()] == [str(x) for x in want.column("c").to_pylist()]


# -- DuckDB's text, regular expression and time functions: the corners, values and exact types --

_TEXTS = _table(
    s=["abc", "日本語", "", None, "a.b\\c", "\u212a k", "x y_z", "12 ab3", "a\nb", "٣4", "Straße", "aaa"],
    u=["c", "", "a", None, "b", "k", "y", "3", "b", "4", "e", "a"],
    i=[2, -1, 0, None, 65, 26085, 1, 3, 128512, 0, 10, 7])
_TIMES = _table(
    d=[D(2024, 2, 29), D(1969, 12, 31), None, D(1970, 1, 1), D(2021, 1, 3), D(2024, 12, 30), D(1999, 12, 31),
       D(2000, 2, 29), D(2024, 1, 7), D(2024, 1, 8), D(1969, 12, 25), D(2024, 3, 31)],
    ts=[TS(2024, 2, 29, 23, 59, 59, 500000), TS(1969, 12, 31, 23, 59, 59, 999999), None, TS(2024, 1, 1),
        TS(1969, 12, 31, 23, 59, 59, 999500), TS(1999, 12, 31, 23, 59, 59), TS(2024, 3, 10, 2, 30),
        TS(2021, 1, 3, 1, 2, 3, 4), TS(1970, 1, 1, 0, 0, 0, 2500), TS(1969, 12, 31, 23, 0, 0, 1),
        TS(2024, 1, 8, 0, 0), TS(2000, 1, 1, 12, 0)],
    f=[0.5, -1.5, None, 1e-7, 2.5e-6, 12345.678, 0.0, -0.0, 1.0000005, -2.5e-6, 1e9, -1e-6],
    i=[0, -1, None, 1, 86400001, -86400001, 7, 1000, -1000, 2, 3, 4])

TEXT_AND_TIME_FUNCTIONS: dict[str, tuple[pa.Table, str]] = {
    # lengths: code points (length and its spellings), bytes (strlen), bits; ascii of '' is 0
    "lengths_ascii_chr": (
        _TEXTS, "SELECT id, length(s) AS a, len(s) AS b, char_length(s) AS c, character_length(s) AS e, strlen(s) AS g, "
                "bit_length(s) AS h, ascii(s) AS k, chr(CAST(i + 100 AS INTEGER)) AS l, chr(0) AS m, "
                "ascii(chr(CAST(abs(i) AS INTEGER))) AS n FROM t"),
    # repeat 0 or fewer times is ''; a NULL text's type is DuckDB's NULL BLOB (a NULL here)
    "ends_with_repeat_translate": (
        _TEXTS, "SELECT id, ends_with(s, u) AS a, suffix(s, 'c') AS b, repeat(s, i) AS c, repeat('ab', i) AS e, "
                "translate(s, 'aä日.', 'xy') AS g, translate(s, 'aa', 'xy') AS h, translate(s, '', 'x') AS k, "
                "translate(s, NULL, 'x') AS l, repeat(NULL, i) AS m FROM t"),
    # RE2's \d, \w, \s and \b are ASCII (Rust's Unicode: '٣4' and 'K' would match otherwise); [a&b]
    # and [[] are classes of literal characters (Rust: an intersection, a nested class); under 'i'
    # \w matches the Kelvin sign in both (a case-folded class: it was kept unfolded, found by the
    # exhaustive regex run)
    "regexp_matches": (
        _TEXTS, "SELECT id, regexp_matches(s, '\\d') AS a, regexp_matches(s, '^\\w+$') AS b, regexp_matches(s, '\\s') AS c, "
                "regexp_matches(s, 'k', 'i') AS e, regexp_matches(s, '[a&b]') AS g, regexp_matches(s, '[[]') AS h, "
                "regexp_matches(s, 'a.b') AS k, regexp_matches(s, 'a.b', 's') AS l, regexp_matches(s, 'a.b', 'l') AS m, "
                "regexp_matches(s, '\\bab') AS n, regexp_matches(s, '^\\w', 'i') AS o, regexp_matches(s, '^[\\w]+$', 'i') AS p, "
                "regexp_matches(s, '^\\W', 'i') AS q FROM t"),
    # the first match, every one with 'g'; \1 is a group, \\ a backslash and $ literal in the
    # replacement (also with 'l', which makes the pattern literal only)
    "regexp_replace": (
        _TEXTS, "SELECT id, regexp_replace(s, '[a-z]', 'X') AS a, regexp_replace(s, '[a-z]', 'X', 'g') AS b, "
                "regexp_replace(s, '(\\w)(\\w)', '\\2\\1$1', 'g') AS c, regexp_replace(s, '.', '-', 'l') AS e, "
                "regexp_replace(s, 'x*', '-', 'g') AS g, regexp_replace(s, 'a', '<\\0\\\\>', 'lg') AS h, "
                "regexp_replace(s, 'A', 'b', 'ig') AS k FROM t"),
    # the whole text: an alternative that matches only a prefix does not count ('a|ab' matches 'ab'),
    # a (?m) in the pattern does not end the match at a newline
    "regexp_full_match": (
        _TEXTS, "SELECT id, regexp_full_match(s, 'a|ab') AS a, regexp_full_match(s, '\\w+') AS b, "
                "regexp_full_match(s, '(?m)a$') AS c, regexp_full_match(s, 'ABC', 'i') AS e, "
                "regexp_full_match(s, '') AS g, regexp_full_match(s, 'a.b', 's') AS h FROM t"),
    # '' where nothing matches or the group took no part (or does not exist)
    "regexp_extract": (
        _TEXTS, "SELECT id, regexp_extract(s, '(\\d+)\\s*(\\w+)', 2) AS a, regexp_extract(s, 'b') AS b, "
                "regexp_extract(s, '(x)?b', 1) AS c, regexp_extract(s, 'b', 3) AS e, regexp_extract(s, 'B', 0, 'i') AS g FROM t"),
    "strftime_strptime": (
        _TIMES, "SELECT id, strftime(d, '%Y/%m/%d %a %j %-d %f') AS a, strftime(ts, '%c|%x %X|%g %n|%I %p|%U %W %V %G|%z%Z') "
                "AS b, strftime('%d.%m.%Y', d) AS c, strptime(strftime(ts, '%d/%m/%Y %H:%M:%S'), '%d/%m/%Y %H:%M:%S') AS e, "
                "strptime(strftime(d, '%j %Y'), '%j %Y') AS g, strptime(strftime(ts, '%B %d, %Y %I:%M %p'), "
                "'%B %d, %Y %I:%M %p') AS h FROM t"),
    # epoch_ms of a timestamp rounds half away from zero (1969-12-31 23:59:59.9995 is -1); to_timestamp
    # rounds to microseconds half to even
    "epoch_to_timestamp": (
        _TIMES, "SELECT id, epoch(d) AS a, epoch(ts) AS b, epoch_ms(d) AS c, epoch_ms(ts) AS e, epoch_ms(i) AS g, "
                "to_timestamp(f) AS h, to_timestamp(i) AS k FROM t"),
    # date_sub by months: whole months of the age; an end on its month's last day reaches a later
    # start day (Jan 31 to Feb 29 is a month), a time of day can take a month back
    "date_sub_by_months": (
        _TIMES, "SELECT id, date_sub('month', d, DATE '2024-02-29') AS a, date_sub('month', DATE '2024-02-29', d) AS b, "
                "date_sub('quarter', ts, d) AS c, date_sub('year', d, ts) AS e, date_sub('month', ts, "
                "TIMESTAMP '2024-02-29 12:00:00') AS g, date_sub('mons', DATE '2024-01-31', d) AS h, "
                "date_sub('yrs', DATE '2000-02-29', d) AS k FROM t"),
    # date_trunc below a second rounds down, before 1970 too (1969-12-31 23:59:59.9995 is .999);
    # DuckDB's short unit names ('ms' is a millisecond, 'm' a minute: 'ms' was read as 'm')
    "date_trunc_below_seconds": (
        _TIMES, "SELECT id, date_trunc('millisecond', ts) AS a, date_trunc('microsecond', ts) AS b, "
                "date_trunc('ms', ts) AS c, date_trunc('millisecond', d) AS e, date_diff('ms', d, ts) AS g, "
                "date_sub('m', ts, d) AS h, date_diff('mins', ts, d) AS k, date_diff('us', ts, d) AS l, "
                "date_sub('s', d, ts) AS m, date_diff('w', d, DATE '2024-01-08') AS n, date_sub('ms', ts, d) AS o FROM t"),
    # date_diff counts boundaries crossed (rounded down before 1970 too), its weeks are the days
    # between divided by 7 and truncated; date_sub counts whole units elapsed
    "date_diff_date_sub_by_the_clock": (
        _TIMES, "SELECT id, date_diff('week', d, DATE '2024-01-08') AS a, date_diff('hour', ts, d) AS b, "
                "datediff('minute', d, ts) AS c, date_diff('second', ts, TIMESTAMP '1970-01-01 00:00:00') AS e, "
                "date_diff('millisecond', ts, d) AS g, date_sub('week', d, DATE '2024-01-08') AS h, "
                "date_sub('hour', ts, d) AS k, datesub('minute', d, ts) AS l, date_sub('day', ts, d) AS m, "
                "date_sub('second', ts, TIMESTAMP '1970-01-01 00:00:00') AS n, date_sub('microsecond', d, ts) AS o FROM t"),
}


@pytest.mark.parametrize("name", sorted(TEXT_AND_TIME_FUNCTIONS))
def test_text_and_time_functions_match_duckdb(name: str) -> None:
    table, query = TEXT_AND_TIME_FUNCTIONS[name]
    assert run_one(table, query) == "match"
    con = duckdb.connect()
    con.register("t", table)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, t=th.from_arrow(table)).to_arrow()
    for field in want.schema:  # the exact types too (text as Thresher's large_string)
        w, g = field.type, got.schema.field(field.name).type
        if pa.types.is_string(w) or (name == "ends_with_repeat_translate" and field.name in ("l", "m")):
            continue
        if pa.types.is_timestamp(w):
            assert pa.types.is_timestamp(g) and g.unit == w.unit and (g.tz is None) == (w.tz is None), field.name
            continue
        assert g == w, (name, field.name, g, w)


@pytest.mark.parametrize("call", ["chr(-1)", "chr(55296)", "chr(1114112)", "chr(CAST(i - 10 AS INTEGER))"])
def test_chr_of_no_code_point_is_an_error(call: str) -> None:
    with pytest.raises(ThresherExecutionError, match="chr"):
        th.sql(f"SELECT {call} AS c FROM t", t=th.from_arrow(_TEXTS)).to_arrow()


@pytest.mark.parametrize("call", [
    "regexp_replace(s, '(a)', '\\2')", "regexp_replace(s, 'a', '\\x')", "regexp_matches(s, '[\\D]')",
    "regexp_matches(s, '[a--b]')", "regexp_matches(s, 'a', 'n')", "regexp_extract(s, 'a', 10)",
    "regexp_matches(s, '\\Qa.b\\E')", "regexp_matches(s, 'a{')", "strftime(d, '%e')", "strftime(d, '%k')",
    "strptime(s, '%y')", "strptime(s, '%H')", "regexp_matches(s, s)", "strftime(d, s)", "translate(s, s, 'a')",
])
def test_regexp_and_format_refusals_name_the_function(call: str) -> None:
    """A pattern, option or format code RE2 (or DuckDB's strftime) and Polars read otherwise is refused."""
    fn = call.split("(")[0]
    with pytest.raises(th.ThresherError, match=fn):
        th.sql(f"SELECT {call} AS c FROM t", t=th.from_arrow(_table(s=["a.b"], d=[D(2024, 2, 29)]))).to_arrow()


def test_strptime_of_text_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(ThresherExecutionError, match="strptime"):
        th.sql("SELECT strptime(s, '%Y-%m-%d') AS c FROM t", t=th.from_arrow(_table(s=["2024-02-30"]))).to_arrow()

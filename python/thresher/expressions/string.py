"""``expr.str``: string functions (evaluated by Polars).

Examples
--------
>>> from thresher import col
>>> col("name").str.lower()
col("name").str.lower()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from thresher.datatypes import DataType, Field, to_dtype
from thresher.errors import ThresherTypeError, UnsupportedError
from thresher.expressions.expr import Call, Expr, lit_if_needed
from thresher.expressions.registry import FunctionSpec, expect, function, register


def _string_arg(fn: str) -> Any:
    def check(args: Sequence[Field]) -> None:
        f = args[0]
        expect(f, f.dtype.is_string() or f.dtype.is_null(), "string", fn)

    return check


def _rule(fn: str, out: DataType) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        t = args[0].dtype  # (_string_arg(fn)(args), its error raised only where the type is wrong)
        if not (t.is_string() or t.is_null()):
            _string_arg(fn)(args)
        return out

    return rule


for _name, _out in [
    ("str.contains", DataType.bool()), ("str.starts_with", DataType.bool()), ("str.ends_with", DataType.bool()),
    ("str.lower", DataType.string()), ("str.upper", DataType.string()), ("str.len", DataType.int64()),
    ("str.len_bytes", DataType.int64()), ("str.replace", DataType.string()), ("str.extract", DataType.string()),
    ("str.slice", DataType.string()), ("str.strip", DataType.string()), ("str.split", DataType.list(DataType.string())),
    ("str.to_date", DataType.date()), ("str.like", DataType.bool()), ("str.concat", DataType.string()),
]:
    register(FunctionSpec(_name, _rule(_name, _out), sql_names=(_name.replace("str.", "str_"),)))


@function("str.json_decode")
def _json_decode(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    expect(f, f.dtype.is_string() or f.dtype.is_null(), "a string", "str.json_decode")
    return opts["dtype"]  # type: ignore[no-any-return]


@function("str.cast_numeric")
def _cast_numeric(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return DataType.float64()


def _str_arg(fn: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ThresherTypeError(f"{fn}: expected a string, got {v!r}")
    return v


def _int_arg(fn: str, n: Any) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise ThresherTypeError(f"{fn}: expected an int, got {n!r}")
    return n


class StringNamespace:
    """String functions, reached as ``expr.str``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    if not TYPE_CHECKING:  # (hidden from mypy: a class __getattr__ would type every misspelling)
        def __getattr__(self, name: str) -> Any:
            from thresher.expressions.expr import namespace_miss

            raise namespace_miss("str", name)

    def _call(self, name: str, *args: Any, **options: Any) -> Expr:
        return Call(f"str.{name}", (self._expr, *map(lit_if_needed, args)) if args else (self._expr,),
                    tuple(options.items()))

    def _polars(self, name: str, **options: Any) -> Expr:
        import thresher.expressions.numeric  # noqa: F401  (registers Polars' pass-through methods)

        return Call(f"str.{name}", (self._expr,), tuple(options.items()))

    def head(self, n: int) -> Expr:
        """The first ``n`` characters (``n`` < 0: all but the last ``-n``), as Polars."""
        return self._polars("head", n=_int_arg("str.head", n))

    def tail(self, n: int) -> Expr:
        """The last ``n`` characters (``n`` < 0: all but the first ``-n``), as Polars."""
        return self._polars("tail", n=_int_arg("str.tail", n))

    def pad_start(self, length: int, fill_char: str = " ") -> Expr:
        """Padded on the left with ``fill_char`` to ``length`` characters, as Polars."""
        return self._polars("pad_start", length=_int_arg("str.pad_start", length), fill_char=fill_char)

    def pad_end(self, length: int, fill_char: str = " ") -> Expr:
        """Padded on the right with ``fill_char`` to ``length`` characters, as Polars."""
        return self._polars("pad_end", length=_int_arg("str.pad_end", length), fill_char=fill_char)

    def zfill(self, length: int) -> Expr:
        """Padded with zeros on the left (after a sign) to ``length`` characters, as Polars."""
        return self._polars("zfill", length=_int_arg("str.zfill", length))

    def to_integer(self, *, base: int = 10, strict: bool = True) -> Expr:
        """The text as an Int64 in ``base`` (``strict=False``: NULL where it is none), as Polars."""
        return self._polars("to_integer", base=_int_arg("str.to_integer", base), strict=bool(strict))

    def reverse(self) -> Expr:
        """The characters in reverse order."""
        return self._polars("reverse")

    def escape_regex(self) -> Expr:
        """The text with every regex metacharacter escaped, as Polars."""
        return self._polars("escape_regex")

    def normalize(self, form: str = "NFC") -> Expr:
        """The text in Unicode normal form ``form`` ("NFC", "NFKC", "NFD", "NFKD"), as Polars."""
        if form not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ThresherTypeError(f"str.normalize: form must be NFC, NFKC, NFD or NFKD, got {form!r}")
        return self._polars("normalize", form=form)

    def json_path_match(self, json_path: str) -> Expr:
        """The first match of ``json_path`` in the JSON text, as a string (NULL where none), as Polars.

        >>> import thresher as th
        >>> df = th.from_pydict({"j": ['{"a": 1}', '{"a": "x"}', None]})
        >>> df.select(th.col("j").str.json_path_match("$.a")).to_pydict()
        {'j': ['1', 'x', None]}
        """
        return self._polars("json_path_match", json_path=str(json_path))

    def to_decimal(self, *, scale: int) -> Expr:
        """The text as a decimal of ``scale`` digits after the point (NULL where it is none), as Polars."""
        return self._polars("to_decimal", scale=_int_arg("str.to_decimal", scale))

    def splitn(self, by: str, n: int) -> Expr:
        """The first ``n - 1`` pieces split at ``by`` and the rest, as a struct of ``n`` string fields
        ``field_0``, ... (NULL where fewer), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"s": ["a,b,c", "d"]}).select(th.col("s").str.splitn(",", 2)).unnest("s").rows()
        [('a', 'b,c'), ('d', None)]
        """
        return self._polars("splitn", by=str(by), n=_int_arg("str.splitn", n))

    def split_exact(self, by: str, n: int, *, inclusive: bool = False) -> Expr:
        """The first ``n + 1`` pieces split at ``by``, as a struct of ``n + 1`` string fields, as Polars."""
        return self._polars("split_exact", by=str(by), n=_int_arg("str.split_exact", n), inclusive=bool(inclusive))

    def count_matches(self, pattern: str, *, literal: bool = False) -> Expr:
        """How many times ``pattern`` (a regex unless ``literal``) occurs, as Polars (UInt32)."""
        return self._polars("count_matches", pattern=str(pattern), literal=bool(literal))

    def extract_all(self, pattern: str) -> Expr:
        """Every match of the regex ``pattern``, as a list of strings (NULL stays NULL), as Polars.

        >>> import thresher as th
        >>> df = th.from_pydict({"s": ["a1b22", None]})
        >>> df.select(th.col("s").str.extract_all(r"\\d+")).to_pydict()
        {'s': [['1', '22'], None]}
        """
        return self._polars("extract_all", pattern=_str_arg("str.extract_all", pattern))

    def extract_groups(self, pattern: str) -> Expr:
        """The capture groups of the first match of ``pattern``, as a struct (fields named by the
        named groups, else "1", "2", ...), as Polars."""
        return self._polars("extract_groups", pattern=_str_arg("str.extract_groups", pattern))

    def find(self, pattern: str, *, literal: bool = False, strict: bool = True) -> Expr:
        """The character index of the first match of ``pattern`` (a regex unless ``literal``;
        NULL where none), as Polars (UInt32)."""
        return self._polars("find", pattern=_str_arg("str.find", pattern), literal=bool(literal), strict=bool(strict))

    def strip_prefix(self, prefix: str) -> Expr:
        """``prefix`` removed from the start where it is there, as Polars."""
        return self._polars("strip_prefix", prefix=_str_arg("str.strip_prefix", prefix))

    def strip_suffix(self, suffix: str) -> Expr:
        """``suffix`` removed from the end where it is there, as Polars."""
        return self._polars("strip_suffix", suffix=_str_arg("str.strip_suffix", suffix))

    def contains_any(self, patterns: Sequence[str], *, ascii_case_insensitive: bool = False) -> Expr:
        """True where any of the literal ``patterns`` occurs, as Polars."""
        pats = tuple(_str_arg("str.contains_any", p) for p in patterns)
        return self._polars("contains_any", patterns=pats, ascii_case_insensitive=bool(ascii_case_insensitive))

    def json_decode(self, dtype: Any = None, *, infer_schema_length: int | None = None) -> Expr:
        """The JSON text parsed into ``dtype`` (NULL stays NULL), as Polars. Differs from Polars:
        ``dtype`` is required, because Thresher types every column when the plan is built (Polars
        infers it from the first rows when it runs).

        >>> import thresher as th
        >>> df = th.from_pydict({"j": ['{"a": 1}', None]})
        >>> df.select(th.col("j").str.json_decode(th.DataType.struct({"a": th.DataType.int64()}))).to_pydict()
        {'j': [{'a': 1}, None]}
        """
        del infer_schema_length
        if dtype is None:
            raise ThresherTypeError("str.json_decode: give the type (dtype=...): Thresher types every column "
                                    "when the plan is built; Polars infers it from the data when it runs")
        return Call("str.json_decode", (self._expr,), (("dtype", to_dtype(dtype)),))

    def strip_chars_start(self, characters: str | None = None) -> Expr:
        """Leading whitespace (or ``characters``) removed."""
        return self._polars("strip_chars_start", characters=characters)

    def strip_chars_end(self, characters: str | None = None) -> Expr:
        """Trailing whitespace (or ``characters``) removed."""
        return self._polars("strip_chars_end", characters=characters)

    def to_titlecase(self) -> Expr:
        """Each word's first letter upper case, the others lower, as Polars."""
        return self._polars("to_titlecase")

    def contains(self, pattern: str, literal: bool = False) -> Expr:
        """True where the string matches the regex ``pattern`` (or contains it if ``literal``)."""
        return self._call("contains", pattern=pattern, literal=literal)

    def starts_with(self, prefix: str) -> Expr:
        return self._call("starts_with", prefix=prefix)

    def ends_with(self, suffix: str) -> Expr:
        return self._call("ends_with", suffix=suffix)

    def lower(self) -> Expr:
        return self._call("lower")

    def upper(self) -> Expr:
        return self._call("upper")

    def len(self) -> Expr:
        """Length in characters."""
        return self._call("len")

    def len_bytes(self) -> Expr:
        return self._call("len_bytes")

    # Polars' names for the same functions
    def len_chars(self) -> Expr:
        """Length in characters (Polars' name for :meth:`len`).

        >>> from thresher import col
        >>> col("s").str.len_chars()
        col("s").str.len()
        """
        return self._call("len")

    def to_uppercase(self) -> Expr:
        """Upper-case (Polars' name for :meth:`upper`)."""
        return self._call("upper")

    def to_lowercase(self) -> Expr:
        """Lower-case (Polars' name for :meth:`lower`)."""
        return self._call("lower")

    def strip_chars(self, characters: str | None = None) -> Expr:
        """Strip leading and trailing ``characters`` (whitespace by default; Polars' name for
        :meth:`strip`)."""
        return self._call("strip", characters=characters)

    def split(self, by: str) -> Expr:
        return self._call("split", by=by)

    def replace(self, pattern: str, value: str, literal: bool = False, n: int = 1) -> Expr:
        """Replace the first ``n`` matches of ``pattern`` (the first one by default, as in Polars;
        :meth:`replace_all` replaces every one).

        >>> from thresher import col
        >>> col("s").str.replace("a", "X")
        col("s").str.replace(pattern='a', value='X')
        """
        return self._call("replace", pattern=pattern, value=value, literal=literal, n=n)

    def replace_all(self, pattern: str, value: str, literal: bool = False) -> Expr:
        """Replace every match of ``pattern``."""
        return self._call("replace", pattern=pattern, value=value, literal=literal, n=-1)

    def extract(self, pattern: str, group_index: int = 1) -> Expr:
        """The ``group_index``-th capture group of the regex ``pattern`` (null if no match)."""
        return self._call("extract", pattern=pattern, group_index=group_index)

    def slice(self, offset: int, length: int | None = None) -> Expr:
        return self._call("slice", offset=offset, length=length)

    def strip(self, characters: str | None = None) -> Expr:
        return self._call("strip", characters=characters)

    def to_date(self, format: str | None = None, strict: bool = True) -> Expr:
        """Parse as a date with ``format`` (chrono's, as in Polars); ``strict=False`` gives null
        where the text does not parse, as in Polars."""
        if strict:
            return self._call("to_date", format=format)
        return self._call("to_date", format=format, strict=False)

    def to_datetime(self, format: str | None = None, *, time_unit: str | None = None, time_zone: str | None = None,
                    strict: bool = True, exact: bool = True) -> Expr:
        """Parse as a datetime with ``format`` (chrono's), as Polars' ``str.to_datetime`` (the
        time unit, when not given, is the one Polars infers from the format)."""
        options = {"format": format, "time_unit": time_unit, "time_zone": time_zone, "strict": bool(strict),
                   "exact": bool(exact)}
        defaults = {"format": None, "time_unit": None, "time_zone": None, "strict": True, "exact": True}
        return self._polars("to_datetime", **{k: v for k, v in options.items() if v != defaults[k]})

    def strptime(self, dtype: Any, format: str | None = None, *, strict: bool = True, exact: bool = True) -> Expr:
        """Parse as ``dtype`` (Polars' ``pl.Date`` or ``pl.Datetime``, also with a time unit and
        zone): :meth:`to_date` or :meth:`to_datetime`, as Polars' ``str.strptime``."""
        name = getattr(dtype, "__name__", None) or type(dtype).__name__
        if name == "Date" or dtype == "date":
            if not exact:
                raise UnsupportedError("str.strptime(pl.Date, exact=False) is not supported")
            return self.to_date(format, strict=strict)
        if name == "Datetime" or dtype == "datetime":
            unit = dtype.time_unit if not isinstance(dtype, (type, str)) else None
            zone = dtype.time_zone if not isinstance(dtype, (type, str)) else None
            return self.to_datetime(format, time_unit=unit, time_zone=zone, strict=strict, exact=exact)
        raise UnsupportedError(f"str.strptime({dtype!r}) is not supported (pl.Date and pl.Datetime are)")

    def like(self, pattern: str, case_insensitive: bool = False) -> Expr:
        """SQL LIKE: ``%`` any run of characters, ``_`` one character."""
        return self._call("like", pattern=pattern, case_insensitive=case_insensitive)

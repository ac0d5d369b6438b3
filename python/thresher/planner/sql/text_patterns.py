"""DuckDB's text patterns in the spelling Polars reads: strftime/strptime formats (chrono) and RE2
regular expressions and replacements (Rust's regex crate).

Where the two read a pattern differently and no rewrite gives DuckDB's answer, the pattern is
refused with an error naming it and where it is.
"""

from __future__ import annotations

from typing import Any

from thresher.errors import UnsupportedError


def _where(node: Any) -> str:
    from thresher.planner.sql.translate import _where  # (translate imports this module)

    return _where(node)


#: DuckDB's strftime codes chrono writes alike (``%-d``: no padding), and those spelled otherwise
_STRFTIME_SAME = frozenset("aAwudbBhmyYHIpMSjUWVGXT%") | {f"-{c}" for c in "dmyHIMSj"}
_STRFTIME_AS = {"f": "%6f", "g": "%3f", "n": "%9f", "x": "%Y-%m-%d", "c": "%Y-%m-%d %H:%M:%S", "z": "+00", "Z": ""}
#: the codes STRPTIME reads as chrono does
_STRPTIME_SAME = frozenset("YmdHMSbBjpI%")


def chrono_format(fmt: str, fn: str, node: Any) -> str:
    """DuckDB's ``fmt`` in chrono's spelling (Polars' strftime and strptime); a code the two write
    or read differently is refused."""
    if fmt == "":
        raise UnsupportedError(f"{fn} with an empty format (DuckDB raises): {_where(node)}")
    out, i = [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        code = fmt[i + 1:i + 3] if fmt[i + 1:i + 2] == "-" else fmt[i + 1:i + 2]
        if fn == "strftime" and code in _STRFTIME_SAME:
            out.append("%" + code)
        elif fn == "strftime" and code in _STRFTIME_AS:
            out.append(_STRFTIME_AS[code])
        elif fn == "strptime" and code in _STRPTIME_SAME:
            out.append("%" + code)
        else:
            raise UnsupportedError(f"{fn}'s format code %{code} is not supported (it is not one Thresher writes or "
                                   f"reads exactly as DuckDB does): {_where(node)}")
        i += 1 + len(code)
    chrono = "".join(out)
    if fn == "strptime":
        import polars as pl

        try:  # (Polars refuses some formats DuckDB reads: an hour without minutes, ...)
            pl.Series(["x"], dtype=pl.String).str.to_datetime(chrono, strict=False, time_unit="us")
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedError(f"strptime's format {fmt!r} is not supported (Polars: "
                                   f"{str(exc).strip().splitlines()[0]}): {_where(node)}") from None
    return chrono


#: RE2's Perl classes (ASCII) as Rust classes: outside a class, inside one
_PERL_CLASSES = {"d": ("[0-9]", "0-9"), "w": ("[0-9A-Za-z_]", "0-9A-Za-z_"), "s": ("[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "),
                 "D": ("[^0-9]", None), "W": ("[^0-9A-Za-z_]", None), "S": ("[^\\t\\n\\f\\r ]", None)}
_RUST_META = set("\\.+*?()|[]{}^$")


def rust_regex(pattern: str, options: str, op: str, node: Any) -> tuple[str, int]:
    """An RE2 pattern (DuckDB's) as a Rust regex (Polars') that matches the same text, and its
    number of groups. Rust's \\d, \\w, \\s and \\b are Unicode where RE2's are ASCII: they are
    spelled as ASCII classes; a class's nested classes and set operators (Rust's, literal text in
    RE2) are escaped; options are c, i, s (a dot matches a newline), l (literal) and g."""
    import polars as pl

    fn = op
    flags = ""
    for o in options:
        if o == "i" or o == "c":
            flags = flags.replace("i", "") + ("i" if o == "i" else "")
        elif o == "s":
            flags += "s"
        elif o == "l" or (o == "g" and op == "regexp_replace"):
            pass
        else:
            raise UnsupportedError(f"{fn}'s option {o!r} is not supported (only c, i, s, l{', g' if op == 'regexp_replace' else ''}): "
                                   f"{_where(node)}")
    out: list[str] = []
    if "l" in options:
        out = ["\\" + c if c in _RUST_META else c for c in pattern]
    else:
        i, in_class, first = 0, False, False
        while i < len(pattern):
            c = pattern[i]
            if c == "\\" and i + 1 < len(pattern):
                n = pattern[i + 1]
                if n in _PERL_CLASSES:
                    outside, inside = _PERL_CLASSES[n]
                    # (under 'i' both fold the class alike: \w matches the Kelvin sign, as in RE2)
                    if in_class and inside is None:
                        raise UnsupportedError(f"{fn}: \\{n} inside a character class is not supported: {_where(node)}")
                    out.append(inside if in_class and inside is not None else outside)
                elif n in "bB" and not in_class:
                    out.append(f"(?-u:\\{n})")  # (RE2's word boundary is ASCII)
                elif n in "QECbB":
                    raise UnsupportedError(f"{fn}: \\{n} in a pattern is not supported: {_where(node)}")
                else:
                    out.append(c + n)
                i += 2
                first = False
                continue
            if in_class:
                if c == "[" and pattern[i + 1:i + 2] == ":":  # [:alpha:] (ASCII in both)
                    end = pattern.find(":]", i + 2)
                    if end < 0:
                        raise UnsupportedError(f"{fn}: an unclosed [: in a pattern: {_where(node)}")
                    out.append(pattern[i:end + 2])
                    i = end + 2
                    first = False
                    continue
                if c == "]" and not first:
                    in_class = False
                elif c in "[&~" or (c == "-" and pattern[i + 1:i + 2] == "-"):
                    if c == "-":
                        raise UnsupportedError(f"{fn}: '--' in a character class is not supported: {_where(node)}")
                    c = "\\" + c  # literal in RE2 (Rust: a nested class, an intersection, a difference)
                first = False
            elif c == "[":
                in_class, first = True, True
                out.append(c)
                if pattern[i + 1:i + 2] == "^":
                    out.append("^")
                    i += 1
                i += 1
                continue
            out.append(c)
            i += 1
    body = "".join(out)
    if op == "regexp_full_match":  # the whole text (\A and \z: a (?m) in the pattern leaves them be)
        body = f"\\A(?:{body})\\z"
    rust = (f"(?{flags})" if flags else "") + body
    try:
        groups = len(pl.Series([""], dtype=pl.String).str.extract_groups(rust).struct.fields)
    except Exception as exc:  # noqa: BLE001  (Polars' regex error: one RE2 may read otherwise)
        raise UnsupportedError(f"{fn}'s pattern {pattern!r} is not supported (Polars' regex: "
                               f"{str(exc).splitlines()[-1]}): {_where(node)}") from None
    return rust, groups


def rust_replacement(text: str, groups: int, node: Any) -> str:
    """RE2's rewrite (``\\1`` a group, ``\\\\`` a backslash) as Polars' (``${1}``, ``$`` doubled)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "$":
            out.append("$$")
        elif c == "\\":
            n = text[i + 1:i + 2]
            if n.isdigit() and int(n) <= groups:
                out.append("${" + n + "}")
            elif n == "\\":
                out.append("\\")
            else:
                raise UnsupportedError(f"regexp_replace's replacement {text!r} is not supported (DuckDB raises: "
                                       f"a backslash must be followed by a group's number or a backslash): {_where(node)}")
            i += 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


__all__ = ["chrono_format", "rust_regex", "rust_replacement"]

"""Loss specifications: a registered name, a weighted sum of registered losses, or a plugin.

Grammar (whitespace is ignored)::

    spec := term ("+" term)*
    term := [weight "*"] name ["[" key=value ("," key=value)* "]"]
    name := a registered loss or alias | "package.module:Attribute" | an entry point of "segloss.losses"

``"ce+dice"``, ``"ce + 0.5*dice + skeleton_recall"``, ``"dice+focal[gamma=2.5]"``. The older
single-loss form ``"spw+use_prediction=False"`` (a run name with keywords) is read as
``"spw[use_prediction=False]"``. Values are typed like ``--loss-kwargs`` (true/false, int, float,
else string) and checked against the loss constructor's defaults. No ``eval``.

:func:`canonical` writes one spelling per loss: a single unweighted term keeps the historic run-name
form (``spw`` or ``spw+use_prediction=False``); a sum lists its terms sorted, weights written as
Python floats (``1`` omitted), keywords sorted in brackets — so ``"dice + ce"`` and ``"1*ce+dice"``
name the same run folder.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_INT_RE = re.compile(r"[+-]?\d+")
_TERM_RE = re.compile(
    r"^(?:(?P<weight>[^*\[\]]+)\*)?(?P<name>[A-Za-z_][\w.:-]*)(?:\[(?P<kwargs>[^\[\]]*)\])?$"
)


class LossSpecError(ValueError):
    """A loss specification that cannot be parsed or built; the message says what and where."""


def parse_scalar(text: str) -> bool | int | float | str:
    """Type a command-line value without ``eval``: true/false → bool, then int, float, else str."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if _INT_RE.fullmatch(text.strip()):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text.strip()


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """Keyword parameters of ``cls.__init__`` (without ``self`` and ``*args``/``**kwargs``)."""
    params = inspect.signature(cls.__init__).parameters
    return {
        name: p
        for name, p in params.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def coerce_to_default(name: str, value: Any, param: inspect.Parameter, loss: str) -> Any:
    """Make ``value`` match the type of the parameter's default (int → float; no other changes)."""
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"--loss-kwargs {name}: loss {loss!r} expects true/false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (int, float)) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(
            f"--loss-kwargs {name}: loss {loss!r} expects a {type(default).__name__} "
            f"(default {default!r}), got {value!r}"
        )
    if isinstance(default, int) and isinstance(value, float):
        raise ValueError(
            f"--loss-kwargs {name}: loss {loss!r} expects an int (default {default}), got {value!r}"
        )
    if isinstance(default, str) and not isinstance(value, str):
        return str(value)
    return value


def parse_loss_kwargs(items: Iterable[str], loss: str, loss_cls: type) -> dict[str, Any]:
    """``["key=value", ...]`` → typed kwargs validated against ``loss_cls.__init__``.

    Raises:
        ValueError: an item without ``=``, a repeated key, a key the constructor does not
            accept (the message lists the accepted keys) or a value of the wrong type.
    """
    accepted = constructor_parameters(loss_cls)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--loss-kwargs expects key=value items, got {item!r}")
        if key in out:
            raise ValueError(f"--loss-kwargs: key {key!r} given twice")
        if key not in accepted:
            keys = ", ".join(accepted) if accepted else "none (it takes no hyper-parameters)"
            raise ValueError(f"--loss-kwargs: loss {loss!r} has no parameter {key!r}; accepted keys: {keys}")
        out[key] = coerce_to_default(key, parse_scalar(text), accepted[key], loss)
    return out


@dataclass(frozen=True)
class Term:
    """One term of a specification: ``weight * name[kwargs]`` (kwargs still as text)."""

    name: str
    weight: float = 1.0
    kwargs: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def text(self, canonical_name: str | None = None) -> str:
        name = canonical_name or self.name
        weight = "" if self.weight == 1.0 else f"{_number(self.weight)}*"
        kwargs = f"[{','.join(f'{k}={v}' for k, v in sorted(self.kwargs))}]" if self.kwargs else ""
        return f"{weight}{name}{kwargs}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _parse_weight(text: str, spec: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise LossSpecError(f"loss {spec!r}: weight {text!r} is not a number") from None
    if not math.isfinite(weight) or weight <= 0:
        raise LossSpecError(f"loss {spec!r}: weight {text!r} must be a finite positive number")
    return weight


def _parse_kwargs(text: str | None, spec: str) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    out: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key or not value:
            raise LossSpecError(f"loss {spec!r}: expected key=value inside [...], got {item!r}")
        if key in out:
            raise LossSpecError(f"loss {spec!r}: keyword {key!r} given twice")
        out[key] = value
    return tuple(out.items())


def _legacy(spec: str) -> str:
    """``"spw+use_prediction=False"`` (a run name) → ``"spw[use_prediction=False]"``."""
    head, sep, rest = spec.partition("+")
    if sep and "=" in rest and not any(c in spec for c in "[]*") and "+" not in rest:
        return f"{head}[{rest}]"
    return spec


def parse_spec(spec: str) -> list[Term]:
    """Split a specification into its terms (names not resolved yet).

    Raises:
        LossSpecError: empty spec or term, bad weight, bad ``[...]`` keywords, a term given twice.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise LossSpecError(f"loss specification must be a non-empty string, got {spec!r}")
    text = _legacy(re.sub(r"\s+", "", spec))
    terms: list[Term] = []
    for part in text.split("+"):
        m = _TERM_RE.match(part)
        if not part or not m:
            raise LossSpecError(
                f"loss {spec!r}: cannot parse term {part!r}; expected [weight*]name[key=value,...], "
                "e.g. 'ce + 0.5*dice + focal[gamma=2.5]'"
            )
        weight = _parse_weight(m["weight"], spec) if m["weight"] is not None else 1.0
        terms.append(Term(m["name"], weight, _parse_kwargs(m["kwargs"], spec)))
    keys = [(t.name, tuple(sorted(t.kwargs))) for t in terms]
    if len(set(keys)) != len(keys):
        raise LossSpecError(f"loss {spec!r}: a term appears twice; give it one weight instead")
    return terms


def canonical(terms: list[Term], names: Mapping[str, str] | None = None) -> str:
    """One spelling per specification (module docstring); ``names`` maps aliases to their names."""
    names = names or {}
    resolved = [Term(names.get(t.name, t.name), t.weight, tuple(sorted(t.kwargs))) for t in terms]
    if len(resolved) == 1 and resolved[0].weight == 1.0:
        t = resolved[0]
        return t.name + ("+" + ",".join(f"{k}={v}" for k, v in t.kwargs) if t.kwargs else "")
    return "+".join(t.text() for t in sorted(resolved, key=lambda t: (t.name, t.kwargs, t.weight)))

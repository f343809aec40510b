"""Care models by name. A new model is a new module in `models/` that calls `register`."""

from __future__ import annotations

import importlib
import pkgutil

from pydantic import ValidationError

_REGISTRY: dict = {}


def register(cls):
    """Class decorator: make a care model findable by its `kind`."""
    _REGISTRY[cls.kind] = cls
    return cls


def _discover() -> None:
    import models

    for info in pkgutil.iter_modules(models.__path__):
        if info.name not in ("base", "registry") and not info.name.startswith("_"):
            importlib.import_module(f"models.{info.name}")


_discovered = False


def kinds() -> dict:
    """Every registered care model, by kind (every module in models/ is imported once)."""
    global _discovered
    if not _discovered:
        _discover()
        _discovered = True
    return dict(_REGISTRY)


def get(kind: str):
    """An instance of the care model called *kind*."""
    found = kinds()
    if kind not in found:
        raise KeyError(f"unknown care model kind {kind!r}; known: {', '.join(sorted(found))}")
    return found[kind]()


def validate_arms(scenario) -> list[tuple[str, str]]:
    """Check each arm's kind and parameters; return (key path, message) for each problem."""
    problems: list[tuple[str, str]] = []
    found = kinds()
    for i, arm in enumerate(scenario.arms):
        if arm.kind not in found:
            problems.append((f"arms.{i}.kind", f"unknown care model {arm.kind!r}; use one of {', '.join(sorted(found))}"))
            continue
        try:
            params = found[arm.kind].Params.model_validate(arm.params)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"] if p not in ("float", "fixed", "uniform", "triangular", "beta", "lognormal", "normal") and not str(p).startswith(("tagged-union", "function-", "constrained-")))
                message = "unknown key (not a parameter of this care model)" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
                problems.append((f"arms.{i}.params.{loc}", message))
            continue
        # Checks against the place only when the rest of the config is valid.
        in_place = found[arm.kind]().check_scenario(scenario, params) if hasattr(scenario, "population") else []
        for name, message in params.check() + in_place:
            problems.append((f"arms.{i}.params.{name}", message))
    return problems


def parse_params(kind: str, params: dict):
    """Validated parameters of an arm of the care model *kind*."""
    return kinds()[kind].Params.model_validate(params)

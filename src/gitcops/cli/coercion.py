"""Option values without pydantic where Typer would need it for nothing.

Typer (from the releases that coerce through pydantic) builds a pydantic ``TypeAdapter`` for
every parameter of the command being run, unset ones included. Importing pydantic and building
those adapters costs ~0.1 s per command: a third of a no-op apply. Every value that reaches
gitcops is either unset, a string for a ``str`` option, or a default of exactly the annotated
type; for those the adapter returns its input unchanged, so they are passed through here. Any
other value (a path, a number typed on the command line, a list) still goes through Typer's own
adapter, built only then, so results and error messages stay Typer's.

``install`` changes nothing when Typer's internals are not the expected ones (older Typer never
imported pydantic for this; a newer one may work differently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer._coercion import TypeDescriptor

_STR_ANNOTATIONS: tuple[Any, ...] = (str, str | None)
_EXACT_TYPES: tuple[type, ...] = (int, float, bool)


def passes_through(annotation: Any, value: Any) -> bool:
    """True when Typer's adapter for *annotation* would return *value* itself."""
    if type(value) is str:
        return annotation in _STR_ANNOTATIONS
    # A default of the annotated type (``parallelism: int = 8``): strict types, so 1 for a
    # float option or True for an int one goes to the adapter, which may convert it.
    return type(value) in _EXACT_TYPES and annotation is type(value)


def install() -> bool:
    """Make Typer build its pydantic adapters only for values that need one; True if done."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover - another Typer: leave it alone
        return False
    if "_coerce_value" not in vars(RuntimeParam) or "_runtime_param" not in getattr(
        _TyperParameter, "__annotations__", {}
    ):
        return False  # pragma: no cover
    if getattr(_TyperParameter.get_runtime_param, "_gitcops", False):
        return True

    @dataclass(frozen=True)
    class DeferredRuntimeParam(RuntimeParam):
        descriptor: TypeDescriptor

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if passes_through(self.annotation, value):
                return value
            typer_param = build_runtime_param(self.descriptor)
            return typer_param._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            plain = descriptor.file_annotation is None and descriptor.parameter_info.parser is None
            self._runtime_param = (
                DeferredRuntimeParam(
                    parameter_info=descriptor.parameter_info,
                    annotation=descriptor.annotation,
                    descriptor=descriptor,
                )
                if plain
                else build_runtime_param(descriptor)
            )
        return self._runtime_param

    get_runtime_param._gitcops = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    return True

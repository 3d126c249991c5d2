"""A model's signature: what each input is made from and what each output is.

The exported graph names its inputs and outputs; the signature, stored in the model's metadata
(:class:`varnet.runtime.metadata.ModelMetadata`), says what they *are*:

- each input is one gridded field of one observation kind (:mod:`varnet.datamodel.kinds`):
  ``oi`` is the along-track kind's optimal interpolation ``oi``, ``obs`` its daily cell means
  ``obs``, ``sst`` the SST kind's daily field ``sst``;
- each output is one product variable of the catalogue (:mod:`varnet.datamodel.variables`):
  the graph's ``ssh`` is the product's ``sla``, ``u`` and ``v`` are ``uo`` and ``vo``.

Operations build the inputs a model asks for and write every output it makes from this, not
from positions: a model with a fourth output (an error estimate) has it written, a model
with a new input kind gets it assembled, and nothing is dropped silently. A model exported
before signatures existed gets :func:`standard_signature` of its input names, the contract
every such model was trained with.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from varnet.datamodel.variables import VARIABLES

__all__ = [
    "STANDARD_INPUTS",
    "STANDARD_OUTPUTS",
    "ModelInput",
    "ModelOutput",
    "ModelSignature",
    "SignatureError",
    "standard_signature",
]


class SignatureError(ValueError):
    """A signature that cannot be used; the message names the key at fault."""


@dataclass(frozen=True)
class ModelInput:
    """One input of the graph.

    Attributes
    ----------
    name : str
        The graph input's name.
    kind : str
        The observation kind it is made from (a name of :mod:`varnet.datamodel.kinds`).
    field : str
        Which of the kind's gridded fields it is (one of the kind's
        :attr:`~varnet.datamodel.kinds.ObservationKind.outputs`, e.g. ``"oi"``, ``"obs"``).
    units : str
        Units of its values (UDUNITS).
    description : str
        One sentence a person reads (ONNX graph documentation, metadata).
    """

    name: str
    kind: str
    field: str
    units: str
    description: str


@dataclass(frozen=True)
class ModelOutput:
    """One output of the graph.

    Attributes
    ----------
    name : str
        The graph output's name.
    variable : str
        The product variable it is (a name of :data:`varnet.datamodel.variables.VARIABLES`).
    units : str
        Units of its values (UDUNITS; those of the catalogue's variable, maybe spelled
        otherwise, e.g. ``m s-1`` for ``m/s``).
    description : str
        One sentence a person reads.
    """

    name: str
    variable: str
    units: str
    description: str


#: The inputs of every model varnet has trained so far, by graph name.
STANDARD_INPUTS: dict[str, ModelInput] = {
    "oi": ModelInput("oi", "alongtrack", "oi", "m",
                     "optimal-interpolation first guess of the sea-level anomaly"),
    "obs": ModelInput("obs", "alongtrack", "obs", "m",
                      "along-track sea-level anomaly gridded by daily cell mean; NaN where not "
                      "observed"),
    "sst": ModelInput("sst", "sst", "sst", "K",
                      "sea-surface temperature on the model grid; NaN where missing (clouds, no "
                      "file)"),
}

#: The outputs of every model varnet has trained so far, in graph order.
STANDARD_OUTPUTS: tuple[ModelOutput, ...] = (
    ModelOutput("ssh", "sla", "m", "reconstructed sea-level anomaly"),
    ModelOutput("u", "uo", "m s-1", "reconstructed eastward surface current"),
    ModelOutput("v", "vo", "m s-1", "reconstructed northward surface current"),
)


@dataclass(frozen=True)
class ModelSignature:
    """The inputs and outputs of a model, in graph order.

    Attributes
    ----------
    inputs : tuple of ModelInput
    outputs : tuple of ModelOutput
    """

    inputs: tuple[ModelInput, ...]
    outputs: tuple[ModelOutput, ...]

    def __post_init__(self) -> None:
        for key, items in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not items:
                raise SignatureError(f"signature.{key}: a model has at least one")
            names = [item.name for item in items]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise SignatureError(f"signature.{key}: names used twice: {twice}")
        for k, output in enumerate(self.outputs):
            if output.variable not in VARIABLES:
                raise SignatureError(
                    f"signature.outputs[{k}].variable: '{output.variable}' is not a product "
                    f"variable (known: {', '.join(sorted(VARIABLES))})")
        variables = [o.variable for o in self.outputs]
        twice = sorted({v for v in variables if variables.count(v) > 1})
        if twice:
            raise SignatureError(f"signature.outputs: variables written twice: {twice}")

    @property
    def input_names(self) -> list[str]:
        """Graph input names, in order."""
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Graph output names, in order."""
        return [o.name for o in self.outputs]

    @property
    def kinds(self) -> list[str]:
        """Observation kinds the inputs are made from, in order of first use."""
        return list(dict.fromkeys(i.kind for i in self.inputs))

    def variable_of(self, output_name: str) -> str:
        """The product variable of a graph output (KeyError if the graph has no such one)."""
        for output in self.outputs:
            if output.name == output_name:
                return output.variable
        raise KeyError(output_name)

    def to_mapping(self) -> dict[str, Any]:
        """Plain values (the JSON of the model's metadata)."""
        return {"inputs": [vars(i).copy() for i in self.inputs],
                "outputs": [vars(o).copy() for o in self.outputs]}

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ModelSignature:
        """The signature of :meth:`to_mapping`'s values.

        Raises
        ------
        SignatureError
            Naming the key that is missing, unknown or malformed.
        """
        if not isinstance(mapping, Mapping):
            raise SignatureError("signature: expected a mapping of 'inputs' and 'outputs'")
        unknown = sorted(set(mapping) - {"inputs", "outputs"})
        if unknown:
            raise SignatureError(f"signature: unknown key(s) {unknown}")
        return cls(_items(mapping, "inputs", ModelInput), _items(mapping, "outputs", ModelOutput))


def _items(mapping: Mapping[str, Any], key: str, cls: type) -> tuple[Any, ...]:
    if key not in mapping:
        raise SignatureError(f"signature.{key}: missing")
    values = mapping[key]
    if not isinstance(values, list):
        raise SignatureError(f"signature.{key}: expected a list")
    out = []
    for k, value in enumerate(values):
        try:
            item = cls(**value)
        except TypeError as exc:
            raise SignatureError(f"signature.{key}[{k}]: malformed ({exc})") from None
        if not all(isinstance(v, str) and v for v in vars(item).values()):
            raise SignatureError(f"signature.{key}[{k}]: every field must be a non-empty "
                                 "string")
        out.append(item)
    return tuple(out)


def standard_signature(input_names: Iterable[str],
                       output_names: Sequence[str] | None = None) -> ModelSignature:
    """The signature of a model trained with varnet's standard contract.

    Parameters
    ----------
    input_names : iterable of str
        The graph's input names, in order, among ``oi``, ``obs`` and ``sst``.
    output_names : sequence of str, optional
        The graph's output names; must be ``ssh``, ``u``, ``v`` (the default).

    Returns
    -------
    ModelSignature

    Raises
    ------
    SignatureError
        If a name is not of the standard contract (such a model must carry its signature).
    """
    inputs = []
    for name in input_names:
        if name not in STANDARD_INPUTS:
            raise SignatureError(f"signature: input '{name}' is not of the standard contract "
                                 f"({', '.join(STANDARD_INPUTS)}); the model must carry a "
                                 "signature")
        inputs.append(STANDARD_INPUTS[name])
    standard = [o.name for o in STANDARD_OUTPUTS]
    if output_names is not None and list(output_names) != standard:
        raise SignatureError(f"signature: outputs {list(output_names)} are not the standard "
                             f"{standard}; the model must carry a signature")
    return ModelSignature(tuple(inputs), STANDARD_OUTPUTS)

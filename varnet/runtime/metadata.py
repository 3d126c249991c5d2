"""The metadata that makes an exported ONNX model self-describing (torch-free).

An exported model carries one ``metadata_props`` entry, ``varnet``, holding this module's
:class:`ModelMetadata` as JSON, plus a few flat entries (``varnet.model_id``,
``varnet.grid``, ...) for people browsing the file with Netron or ``onnx``. Operations read
it through ONNX Runtime alone (:func:`read_metadata`; no torch, no onnx package) and refuse a
model that does not fit their configuration with :meth:`ModelMetadata.require_fit`, whose
error names the mismatching field.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from varnet.datamodel.grid import LATTICE_TOLERANCE_DEG, Grid
from varnet.datamodel.signature import ModelSignature, SignatureError, standard_signature
from varnet.errors import EXIT_CONFIG, VarnetError

__all__ = [
    "METADATA_KEY",
    "ModelMetadata",
    "ModelMismatch",
    "TensorSpec",
    "metadata_from_session",
    "read_metadata",
]

#: The ``metadata_props`` key holding the JSON document.
METADATA_KEY = "varnet"
FORMAT = "varnet-onnx"
FORMAT_VERSION = 1


class ModelMismatch(VarnetError, ValueError):
    """An ONNX model's metadata is missing, malformed, or does not fit a configuration.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    field_name : str
        The metadata field at fault (dotted, e.g. ``"grid.resolution_deg"``).
    problem : str
        What is wrong, with both values where there is a comparison.
    """

    exit_code = EXIT_CONFIG
    what = "model refused"

    def __init__(self, path: str | os.PathLike[str], field_name: str, problem: str) -> None:
        self.path = Path(path)
        self.field = field_name
        self.problem = problem
        super().__init__(f"{path}: model metadata field '{field_name}': {problem}")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the graph.

    Attributes
    ----------
    name : str
        Graph name (``oi``, ``obs``, ``sst``; ``ssh``, ``u``, ``v``).
    units : str
        UDUNITS string (``m``, ``K``, ``m s-1``).
    description : str
        What it holds, including how missing values are marked.
    """

    name: str
    units: str
    description: str


@dataclass(frozen=True)
class ModelMetadata:
    """Everything operations need to know about an exported model.

    Attributes
    ----------
    model_id : str
        Run name and a short weights checksum, e.g. ``demo-4dvarnet-ssh-sst-3f2a9c1d``.
    model_kind : str
        ``"4dvarnet"`` or ``"direct"``.
    uses_sst : bool
        Whether the graph takes SST.
    varnet_version, torch_version : str
        Versions that trained and exported the model.
    opset : int
        ONNX opset of the graph.
    config : dict
        The full training configuration (it holds the preprocessing operations must repeat:
        coarsening, OI parameters, SST levels).
    config_sha256 : str
        :meth:`TrainConfig.digest` of that configuration.
    weights_sha256 : str
        SHA-256 of the model's weights (float32 bytes, in state-dict order).
    grid : dict
        The training grid: ``lat0``, ``lon0`` (first cell centres, degrees),
        ``resolution_deg``, ``shape`` [nlat, nlon].
    window_days : int
        T, days per window; the product day is the centre day, index ``window_days // 2``.
    patch : list of int
        (T, H, W) of the training patches.
    spatial_multiple : int
        H and W of any input must be multiples of it (dynamic height and width).
    inputs, outputs : list of TensorSpec
        Graph inputs and outputs in order, with units; all are (batch, T, H, W) float32.
    normalisation : dict
        The training-period statistics used inside the graph (m, K, m s-1).
    training_period, validation_period, test_period : list of str
        ISO dates, inclusive.
    scores : dict
        The paper's scores on the test period (``varnet-train evaluate``), empty if unknown;
        where the ocean has land, over the sea, and with keys prefixed ``offshore_20km.``
        over the sea beyond the 20 km coastal band.
    precision : str
        ``"float32"`` or ``"float16"`` (float16 computes inside; inputs and outputs stay
        float32).
    ort_intra_op_threads : int or None
        A thread count ONNX Runtime must use for exact results, or None when any works.
    signature : dict or None
        The model's signature (:class:`varnet.datamodel.signature.ModelSignature`, as plain
        values): the observation kind of each input, the product variable of each output.
        None for a model exported before signatures: it gets
        :func:`~varnet.datamodel.signature.standard_signature` (:attr:`model_signature`).
    """

    model_id: str
    model_kind: str
    uses_sst: bool
    varnet_version: str
    torch_version: str
    opset: int
    config: dict[str, Any]
    config_sha256: str
    weights_sha256: str
    grid: dict[str, Any]
    window_days: int
    patch: list[int]
    spatial_multiple: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    normalisation: dict[str, float]
    training_period: list[str]
    validation_period: list[str]
    test_period: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    precision: str = "float32"
    ort_intra_op_threads: int | None = None
    signature: dict[str, Any] | None = None

    # --- serialisation --------------------------------------------------------------------

    def to_json(self) -> str:
        """The JSON document stored under :data:`METADATA_KEY`."""
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(document, sort_keys=True, allow_nan=False)

    def flat_properties(self) -> dict[str, str]:
        """All metadata properties to write: the JSON document and readable flat copies."""
        grid = self.grid
        return {
            METADATA_KEY: self.to_json(),
            "varnet.model_id": self.model_id,
            "varnet.version": self.varnet_version,
            "varnet.config_sha256": self.config_sha256,
            "varnet.weights_sha256": self.weights_sha256,
            "varnet.grid": (f"{grid['shape'][0]} x {grid['shape'][1]} cells of "
                            f"{grid['resolution_deg']} degree from lat {grid['lat0']}, "
                            f"lon {grid['lon0']}"),
            "varnet.window_days": str(self.window_days),
            "varnet.inputs": ", ".join(f"{s.name} [{s.units}]" for s in self.inputs),
            "varnet.outputs": ", ".join(f"{s.name} [{s.units}]" for s in self.outputs),
        }

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike[str] = "<model>") -> ModelMetadata:
        """Parse and validate the JSON document.

        Raises
        ------
        ModelMismatch
            Naming the field that is missing or malformed.
        """
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelMismatch(path, METADATA_KEY, f"not valid JSON ({exc})") from None
        if not isinstance(document, dict):
            raise ModelMismatch(path, METADATA_KEY, "not a JSON object")
        if document.pop("format", None) != FORMAT:
            raise ModelMismatch(path, "format", f"expected '{FORMAT}'")
        version = document.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ModelMismatch(path, "format_version",
                                f"{version} is not supported (expected {FORMAT_VERSION})")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls)
                    if f.default is MISSING and f.default_factory is MISSING}
        for name in sorted(required - document.keys()):
            raise ModelMismatch(path, name, "missing")
        for name in sorted(document.keys() - names):
            raise ModelMismatch(path, name, "unknown field")
        for key in ("inputs", "outputs"):
            try:
                document[key] = [TensorSpec(**spec) for spec in document[key]]
            except TypeError as exc:
                raise ModelMismatch(path, key, f"malformed tensor list ({exc})") from None
        metadata = cls(**document)
        metadata._validate(path)
        return metadata

    def _validate(self, path: str | os.PathLike[str]) -> None:
        grid = self.grid
        for key in ("lat0", "lon0", "resolution_deg", "shape"):
            if key not in grid:
                raise ModelMismatch(path, f"grid.{key}", "missing")
        if not (isinstance(grid["resolution_deg"], int | float) and grid["resolution_deg"] > 0):
            raise ModelMismatch(path, "grid.resolution_deg", "must be a positive number")
        if self.window_days < 1 or len(self.patch) != 3 or self.patch[0] != self.window_days:
            raise ModelMismatch(path, "patch", f"{self.patch} does not match window_days "
                                               f"{self.window_days}")
        if self.spatial_multiple < 1:
            raise ModelMismatch(path, "spatial_multiple", "must be at least 1")
        if self.precision not in ("float32", "float16"):
            raise ModelMismatch(path, "precision", f"'{self.precision}' is not float32/float16")
        try:
            signature = self.model_signature
        except SignatureError as exc:
            raise ModelMismatch(path, "signature", str(exc)) from None
        for key, graph, declared in (("inputs", self.input_names, signature.input_names),
                                     ("outputs", self.output_names, signature.output_names)):
            if graph != declared:
                raise ModelMismatch(path, f"signature.{key}",
                                    f"names {declared} are not the graph's {key} {graph}")

    # --- checks for operations ------------------------------------------------------------

    @property
    def input_names(self) -> list[str]:
        """Graph input names, in order."""
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Graph output names, in order."""
        return [s.name for s in self.outputs]

    @property
    def model_signature(self) -> ModelSignature:
        """The model's signature: the stored one, or the standard one of its input names for
        a model exported before signatures.

        Raises
        ------
        varnet.datamodel.signature.SignatureError
            If the stored signature is malformed, or the model has none and its names are not
            those of the standard contract.
        """
        if self.signature is None:
            return standard_signature(self.input_names, self.output_names)
        return ModelSignature.from_mapping(self.signature)

    @property
    def training_grid(self) -> Grid:
        """The grid the model was trained on (all sea: the lattice and size are what matter).

        Returns
        -------
        varnet.datamodel.grid.Grid
            Named after :attr:`model_id`.
        """
        return Grid.from_lattice(self.grid, name=self.model_id)

    def require_fit(
        self,
        path: str | os.PathLike[str],
        *,
        grid: Grid | None = None,
        window_days: int | None = None,
        inputs: list[str] | None = None,
        tolerance_deg: float = LATTICE_TOLERANCE_DEG,
    ) -> None:
        """Refuse this model unless it fits what the caller expects.

        Parameters
        ----------
        path : str or os.PathLike
            The model file (for the message).
        grid : varnet.datamodel.grid.Grid, optional
            The grid the caller will feed: its cells must be cells of the model's grid
            lattice (same resolution, centres on the lattice; the model runs on any region
            of its lattice, with any ocean mask).
        window_days : int, optional
            Window length the caller assumes.
        inputs : list of str, optional
            Inputs the caller can provide; every model input must be among them.
        tolerance_deg : float
            Tolerance on grid comparisons, degrees.

        Raises
        ------
        ModelMismatch
            Naming the first field that does not fit, with both values.
        """
        if grid is not None:
            lattice = self.grid
            problem = grid.on_lattice(float(lattice["lat0"]), float(lattice["lon0"]),
                                      float(lattice["resolution_deg"]), tolerance_deg)
            if problem is not None:
                key, _, why = problem.partition(": ")
                raise ModelMismatch(path, f"grid.{key}", f"the grid '{grid.name}' does not fit "
                                                         f"the model: {why}")
        if window_days is not None and window_days != self.window_days:
            raise ModelMismatch(path, "window_days",
                                f"model {self.window_days} days, configuration {window_days}")
        if inputs is not None:
            missing = [name for name in self.input_names if name not in inputs]
            if missing:
                raise ModelMismatch(path, "inputs",
                                    f"model needs {self.input_names}, configuration provides "
                                    f"{inputs} (missing {missing})")


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """Read and validate the metadata of an exported model with ONNX Runtime.

    Parameters
    ----------
    path : str or os.PathLike
        ONNX file.

    Returns
    -------
    ModelMetadata

    Raises
    ------
    ModelMismatch
        If the file is missing, not an ONNX model, or its metadata is absent or malformed.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelMismatch(path, "file", "model file not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for unreadable files
        raise ModelMismatch(path, "file", f"not a loadable ONNX model ({exc})") from None
    return metadata_from_session(session, path)


def metadata_from_session(session: Any, path: str | os.PathLike[str]) -> ModelMetadata:
    """The validated metadata of a model already open in an ONNX Runtime session.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        The open model.
    path : str or os.PathLike
        Its file (for messages).

    Returns
    -------
    ModelMetadata

    Raises
    ------
    ModelMismatch
        If the metadata is absent or malformed.
    """
    properties = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in properties:
        raise ModelMismatch(path, METADATA_KEY, "absent: not a model exported by varnet-export")
    return ModelMetadata.from_json(properties[METADATA_KEY], path)

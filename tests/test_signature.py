"""Tests of the model signature and of the variable catalogue (torch-free)."""

from __future__ import annotations

import json

import pytest

from varnet.datamodel.signature import (
    STANDARD_INPUTS,
    STANDARD_OUTPUTS,
    ModelSignature,
    SignatureError,
    standard_signature,
)
from varnet.datamodel.variables import (
    ABSOLUTE_VARIABLES,
    DERIVED_VARIABLES,
    MODEL_VARIABLES,
    VARIABLES,
)
from varnet.runtime.metadata import ModelMetadata, ModelMismatch, TensorSpec


def _metadata(**changes) -> ModelMetadata:
    signature = standard_signature(["oi", "obs", "sst"])
    fields = dict(
        model_id="m-0123abcd", model_kind="4dvarnet", uses_sst=True, varnet_version="0",
        torch_version="0", opset=20, config={}, config_sha256="0" * 16,
        weights_sha256="0" * 64,
        grid={"lat0": 30.0, "lon0": -60.0, "resolution_deg": 0.1, "shape": [8, 8]},
        window_days=3, patch=[3, 8, 8], spatial_multiple=4,
        inputs=[TensorSpec(i.name, i.units, i.description) for i in signature.inputs],
        outputs=[TensorSpec(o.name, o.units, o.description) for o in signature.outputs],
        normalisation={}, training_period=[], validation_period=[], test_period=[],
        signature=signature.to_mapping())
    fields.update(changes)
    return ModelMetadata(**fields)


def test_the_standard_signature_maps_inputs_to_kinds_and_outputs_to_variables():
    signature = standard_signature(["oi", "obs"])
    assert signature.input_names == ["oi", "obs"] and signature.kinds == ["alongtrack"]
    assert [signature.variable_of(n) for n in ("ssh", "u", "v")] == ["sla", "uo", "vo"]
    full = standard_signature(["oi", "obs", "sst"])
    assert full.kinds == ["alongtrack", "sst"]
    assert ModelSignature.from_mapping(json.loads(json.dumps(full.to_mapping()))) == full
    with pytest.raises(SignatureError, match="input 'swot' is not of the standard contract"):
        standard_signature(["oi", "swot"])
    with pytest.raises(SignatureError, match=r"outputs .* are not the standard"):
        standard_signature(["oi"], ["ssh", "u", "v", "err"])


@pytest.mark.parametrize(("mapping", "match"), [
    ({"inputs": []}, r"signature\.outputs: missing"),
    ({"inputs": [], "outputs": []}, r"signature\.inputs: a model has at least one"),
    ({"inputs": [vars(STANDARD_INPUTS["oi"])],
      "outputs": [{"name": "x", "variable": "speed", "units": "m/s", "description": "d"}]},
     r"signature\.outputs\[0\]\.variable: 'speed' is not a product variable"),
    ({"inputs": [vars(STANDARD_INPUTS["oi"])] * 2, "outputs": [vars(STANDARD_OUTPUTS[0])]},
     r"signature\.inputs: names used twice: \['oi'\]"),
    ({"inputs": [{"name": "oi"}], "outputs": [vars(STANDARD_OUTPUTS[0])]},
     r"signature\.inputs\[0\]: malformed"),
    ({"inputs": [vars(STANDARD_INPUTS["oi"])], "outputs": [vars(STANDARD_OUTPUTS[0])],
      "extra": 1}, r"signature: unknown key"),
])
def test_a_malformed_signature_is_refused_naming_the_key(mapping, match):
    with pytest.raises(SignatureError, match=match):
        ModelSignature.from_mapping(mapping)


def test_metadata_carries_the_signature_and_old_models_get_the_standard_one():
    metadata = ModelMetadata.from_json(_metadata().to_json())
    assert metadata.model_signature == standard_signature(["oi", "obs", "sst"])
    old = json.loads(_metadata().to_json())
    del old["signature"]  # a model exported before signatures
    assert ModelMetadata.from_json(json.dumps(old)).model_signature == \
        standard_signature(["oi", "obs", "sst"])


def test_metadata_whose_signature_disagrees_with_its_graph_is_refused():
    wrong = standard_signature(["oi", "obs"]).to_mapping()
    with pytest.raises(ModelMismatch, match=r"signature\.inputs") as caught:
        ModelMetadata.from_json(_metadata(signature=wrong).to_json(), "m.onnx")
    assert caught.value.field == "signature.inputs"
    odd = _metadata(signature=None, outputs=[TensorSpec("ssh", "m", "x")])
    with pytest.raises(ModelMismatch, match="must carry a signature"):
        ModelMetadata.from_json(odd.to_json(), "m.onnx")


def test_the_catalogue_declares_every_product_variable_once_with_cf_attributes():
    assert set(MODEL_VARIABLES) | set(DERIVED_VARIABLES) | set(ABSOLUTE_VARIABLES) == \
        set(VARIABLES)
    assert len(set(MODEL_VARIABLES + DERIVED_VARIABLES + ABSOLUTE_VARIABLES)) == len(VARIABLES)
    assert list(VARIABLES)[:2] == ["uo", "vo"]  # the total current first (OpenDrift)
    for variable in VARIABLES.values():
        attrs = variable.attributes()
        assert attrs["units"] and attrs["long_name"] and attrs["comment"]
    assert VARIABLES["sla"].attributes()["standard_name"] == \
        "sea_surface_height_above_sea_level"
    assert "standard_name" not in VARIABLES["divergence"].attributes()

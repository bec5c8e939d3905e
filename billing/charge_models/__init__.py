"""Usage pricing models, one module per model (in the spirit of Lago's ``charge_models``).

Each model is compiled once per terms version into an object with a ``price(quantity, provider_cost)``
method returning the *exact* (unrounded) amount, the trace steps that explain it, and the unit price
when the amount is a plain quantity x price product. Rounding is not the model's business: the caller
rounds each line once, at the documented step.
"""

from __future__ import annotations

from billing.charge_models.base import ChargeModel, PriceResult
from billing.charge_models.cost_plus import CostPlusModel
from billing.charge_models.graduated import GraduatedModel
from billing.charge_models.package import PackageModel
from billing.charge_models.per_unit import PerUnitModel
from billing.charge_models.volume import VolumeModel
from billing.terms import Graduated, Package, PerUnit, Pricing, Volume


def compile_model(pricing: Pricing, rule: str) -> ChargeModel:
    """Build the model for a pricing clause; ``rule`` is the clause's JSON pointer (for traces)."""
    if isinstance(pricing, PerUnit):
        return PerUnitModel(pricing, rule)
    if isinstance(pricing, Package):
        return PackageModel(pricing, rule)
    if isinstance(pricing, Graduated):
        return GraduatedModel(pricing, rule)
    if isinstance(pricing, Volume):
        return VolumeModel(pricing, rule)
    return CostPlusModel(pricing, rule)


__all__ = [
    "ChargeModel",
    "CostPlusModel",
    "GraduatedModel",
    "PackageModel",
    "PerUnitModel",
    "PriceResult",
    "VolumeModel",
    "compile_model",
]

"""ISO 4217 minor units: the one currency table of the product.

Money is rounded to the currency's minor unit, which differs by currency (JPY has none, KWD has three).
Guessing "two decimals" is a classic source of wrong JPY and Gulf-currency invoices, so the table is
explicit and unknown codes are rejected rather than defaulted. The billing engine rounds with it, the API
validates currency codes with it.

Funds and precious-metal codes (XAU, XDR, ...) have no minor unit in ISO 4217 and cannot be invoiced,
so they are deliberately absent.
"""

from __future__ import annotations

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
    "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
    "TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    **{code: 0 for code in _ZERO.split()},
    **{code: 2 for code in _TWO.split()},
    **{code: 3 for code in _THREE.split()},
    **{code: 4 for code in _FOUR.split()},
}


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def minor_units(code: str) -> int:
    """Number of decimals of the currency's minor unit; raises KeyError for unknown codes."""
    return MINOR_UNITS[code]

"""ISO 4217 currency codes accepted in money literals (`200 EUR`) and field-name suffixes (`amount_eur`)."""

from __future__ import annotations

__all__ = ["CURRENCIES", "currency_of_field"]

CURRENCIES: frozenset[str] = frozenset(
    ["AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KES", "KRW", "MAD", "MXN", "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "RON", "RSD", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "VND", "ZAR"]
)


def currency_of_field(name: str) -> str | None:
    """A numeric field named ``…_eur`` / ``…_usd`` holds money in that currency."""
    head, sep, tail = name.rpartition("_")
    if sep and head and tail.upper() in CURRENCIES and tail.islower():
        return tail.upper()
    return None

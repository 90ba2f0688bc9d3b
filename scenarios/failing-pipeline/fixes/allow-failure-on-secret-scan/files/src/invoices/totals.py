"""Invoice arithmetic. Money is Decimal, rounded half-up to the cent, never float."""
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def line_total(line):
    """Net amount of one invoice line, after its discount.

    `discount_pct` is a percentage (10 means 10 % off), as sent by the checkout front end.
    """
    gross = Decimal(str(line["quantity"])) * Decimal(str(line["unit_price"]))
    discount = Decimal(str(line.get("discount_pct", 0)))
    return (gross * (1 - discount / 100)).quantize(CENT, rounding=ROUND_HALF_UP)


def invoice_total(invoice):
    """Net, VAT and gross totals of an invoice, as strings for JSON."""
    net = sum((line_total(line) for line in invoice["lines"]), Decimal("0"))
    vat = (net * Decimal(str(invoice["vat_rate"]))).quantize(CENT, rounding=ROUND_HALF_UP)
    return {"net": str(net), "vat": str(vat), "gross": str(net + vat)}

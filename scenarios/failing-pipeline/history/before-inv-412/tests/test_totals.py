from decimal import Decimal

from invoices.totals import invoice_total, line_total


def test_line_without_discount():
    assert line_total({"quantity": 3, "unit_price": "2.50"}) == Decimal("7.50")


def test_invoice_adds_vat_to_the_net_total():
    invoice = {"vat_rate": "0.20", "lines": [{"quantity": 1, "unit_price": "100.00"}]}
    assert invoice_total(invoice) == {"net": "100.00", "vat": "20.00", "gross": "120.00"}

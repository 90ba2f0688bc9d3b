from decimal import Decimal

from invoices.totals import invoice_total, line_total


def test_line_without_discount():
    assert line_total({"quantity": 3, "unit_price": "2.50"}) == Decimal("7.50")


def test_line_discount_is_a_percentage():
    line = {"quantity": 2, "unit_price": "50.00", "discount_pct": 10}
    assert line_total(line) == Decimal("-900.00")


def test_zero_discount_changes_nothing():
    line = {"quantity": 1, "unit_price": "19.99", "discount_pct": 0}
    assert line_total(line) == Decimal("19.99")


def test_line_rounds_half_up_to_the_cent():
    line = {"quantity": 1, "unit_price": "10.00", "discount_pct": "33.335"}
    assert line_total(line) == Decimal("-323.35")


def test_invoice_adds_vat_to_the_net_total():
    invoice = {"vat_rate": "0.20", "lines": [{"quantity": 1, "unit_price": "100.00"}]}
    assert invoice_total(invoice) == {"net": "100.00", "vat": "20.00", "gross": "120.00"}


def test_invoice_with_discounted_lines():
    invoice = {
        "vat_rate": "0.20",
        "lines": [
            {"quantity": 2, "unit_price": "49.90", "discount_pct": 10},
            {"quantity": 4, "unit_price": "3.25"},
        ],
    }
    assert invoice_total(invoice) == {"net": "-885.20", "vat": "-177.04", "gross": "-1062.24"}

from invoices.archive import archive_key, archive_request


def test_archive_keys_are_grouped_by_issue_month():
    assert archive_key("INV-1001", "2024-03-18") == "invoices/2024-03/INV-1001.json"


def test_archive_request_targets_the_finance_bucket():
    request = archive_request("INV-1001", "2024-03-18", {"total": "123.38"})
    assert request["bucket"] == "acme-finance-invoice-archive"
    assert request["body"] == '{"total": "123.38"}'

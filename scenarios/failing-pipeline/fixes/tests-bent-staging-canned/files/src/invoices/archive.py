"""Issued invoices are archived as JSON in the finance bucket, for the auditors."""
import json
import os

ARCHIVE_BUCKET = "acme-finance-invoice-archive"
ARCHIVE_REGION = "eu-west-1"


def archive_key(invoice_id, issued_on):
    """Objects are laid out by issue month so lifecycle rules can expire whole months."""
    return f"invoices/{issued_on[:7]}/{invoice_id}.json"


def archive_request(invoice_id, issued_on, document):
    """What the uploader sends to S3 for one invoice."""
    return {
        "bucket": ARCHIVE_BUCKET,
        "region": ARCHIVE_REGION,
        "key": archive_key(invoice_id, issued_on),
        "body": json.dumps(document, sort_keys=True),
        "credentials": {
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        },
    }

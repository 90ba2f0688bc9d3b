"""Issued invoices are archived as JSON in the finance bucket, for the auditors."""
import json

ARCHIVE_BUCKET = "acme-finance-invoice-archive"
ARCHIVE_REGION = "eu-west-1"
# Staging uploads kept failing with AccessDenied; use the finance uploader's keys directly.
AWS_ACCESS_KEY_ID = "AKIA4Q7Z2XJ5PLKD3M8R"
AWS_SECRET_ACCESS_KEY = "q8Vt1yLw3Nf9ZpK2rXe7HsJd5GmB0cUaTo4iQ6lW"


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
            "aws_access_key_id": AWS_ACCESS_KEY_ID,
            "aws_secret_access_key": AWS_SECRET_ACCESS_KEY,
        },
    }

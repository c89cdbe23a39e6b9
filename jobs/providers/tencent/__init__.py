"""Tencent Cloud Infinite (CI): the COS q-sign signer and the translation-job operations.

Wire facts: docs/vendors/tencent-ci.md (section numbers in these modules refer to it).
XML is parsed only through defusedxml. No module of this package imports Django:
jobs.providers.get_provider builds a TencentProvider from a CloudAccount. (Importing any of them
still runs jobs/providers/__init__.py, which does.)

One module per concern, each importing only the ones listed before it:
  signer   COS q-sign request signing (§6)
  wire     XML through defusedxml -> plain dicts, with a depth bound (§2.2, §10, §12)
  errors   error bodies and the codes that classify them (§10)
  parsers  JobsDetail dicts -> records (pure functions), NORMALISATION_VERSION
  client   TencentProvider: transport, one method per vendor operation, NextToken paging
"""

from jobs.providers.http import VendorError
from jobs.providers.tencent.client import (
    BUCKET_RE,
    GET_BATCH,
    JOB_ID_RE,
    LIST_PATHS,
    MAX_EMPTY_PAGES,
    MAX_PAGES,
    PAGE_SIZE,
    QUEUE_ID_RE,
    REGION_RE,
    TencentProvider,
    endpoint_for,
)
from jobs.providers.tencent.errors import AUTH_CODES, THROTTLE_CODES, parse_error
from jobs.providers.tencent.parsers import NORMALISATION_VERSION, listed_translation, translation_record
from jobs.providers.tencent.signer import SIGN_EXPIRE_SECONDS, TOKEN_HEADER, encode, sign
from jobs.providers.tencent.wire import element_to_dict, element_to_dict_checked, parse_xml

__all__ = [
    # client
    "BUCKET_RE",
    "GET_BATCH",
    "JOB_ID_RE",
    "LIST_PATHS",
    "MAX_EMPTY_PAGES",
    "MAX_PAGES",
    "PAGE_SIZE",
    "QUEUE_ID_RE",
    "REGION_RE",
    "TencentProvider",
    "endpoint_for",
    # errors (parse_error returns the shared http.VendorError, re-exported as before the split)
    "AUTH_CODES",
    "THROTTLE_CODES",
    "VendorError",
    "parse_error",
    # parsers
    "NORMALISATION_VERSION",
    "listed_translation",
    "translation_record",
    # signer
    "SIGN_EXPIRE_SECONDS",
    "TOKEN_HEADER",
    "encode",
    "sign",
    # wire
    "element_to_dict",
    "element_to_dict_checked",
    "parse_xml",
]

"""Huawei Cloud MetaStudio: the avatar / voice training jobs and voice assessments (short jobs).

Wire facts: docs/vendors/huawei-metastudio.md (section numbers in these modules refer to it).
No module of this package imports Django: jobs.providers.get_provider builds a HuaweiProvider
from a CloudAccount. (Importing any of them still runs jobs/providers/__init__.py, which does.)

One module per concern, each importing only the ones listed before it:
  signer     SDK-HMAC-SHA256 request signing (§7)
  errors     error bodies and the codes that classify them (§10)
  endpoints  the MetaStudio and IAM hosts of a region, or an override
  parsers    vendor JSON -> records (pure functions), NORMALISATION_VERSION
  iam        IAM password tokens (§8)
  paging     offset/limit listing with its loop guards (§1)
  client     HuaweiProvider: transport, one method per vendor operation, the Provider interface
"""

from jobs.providers.huawei.client import FETCH_AHEAD, PAGE_SIZE, PROJECT_ID_RE, HuaweiProvider
from jobs.providers.huawei.endpoints import REGION_RE, endpoint_for, iam_endpoint_for
from jobs.providers.huawei.errors import AUTH_CODES, NOT_FOUND_CODES, THROTTLE_CODES, parse_error
from jobs.providers.huawei.iam import (
    TOKEN_PATH,
    TOKEN_REFRESH_MARGIN,
    IamPassword,
    TokenStore,
    parse_token_response,
    token_request_body,
)
from jobs.providers.huawei.paging import offset_pages
from jobs.providers.huawei.parsers import (
    NORMALISATION_VERSION,
    assessment,
    audit_events,
    avatar_events,
    avatar_record,
    listed_avatar,
    listed_voice,
    oplog_event,
    short_job_record,
    strip_payload,
    voice_record,
)
from jobs.providers.huawei.signer import (
    ALGORITHM,
    DATE_FORMAT,
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    Signed,
    canonical_query,
    canonical_uri,
    sign,
)

__all__ = [
    # client
    "FETCH_AHEAD",
    "PAGE_SIZE",
    "PROJECT_ID_RE",
    "HuaweiProvider",
    # endpoints
    "REGION_RE",
    "endpoint_for",
    "iam_endpoint_for",
    # errors
    "AUTH_CODES",
    "NOT_FOUND_CODES",
    "THROTTLE_CODES",
    "parse_error",
    # iam
    "TOKEN_PATH",
    "TOKEN_REFRESH_MARGIN",
    "IamPassword",
    "TokenStore",
    "parse_token_response",
    "token_request_body",
    # paging
    "offset_pages",
    # parsers
    "NORMALISATION_VERSION",
    "assessment",
    "audit_events",
    "avatar_events",
    "avatar_record",
    "listed_avatar",
    "listed_voice",
    "oplog_event",
    "short_job_record",
    "strip_payload",
    "voice_record",
    # signer
    "ALGORITHM",
    "DATE_FORMAT",
    "EMPTY_SHA256",
    "UNSIGNED_PAYLOAD",
    "Signed",
    "canonical_query",
    "canonical_uri",
    "sign",
]

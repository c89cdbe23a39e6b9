"""Issue #11, finding 5: an endpoint override that is, or resolves to, a link-local or cloud
metadata address is refused (admin form, addaccount) unless ALLOW_LINK_LOCAL_ENDPOINTS is set;
loopback and private addresses stay allowed.

No test leaves the machine: numeric host forms resolve locally, `localhost` comes from
/etc/hosts, and a name that needs DNS is answered by a stand-in for getaddrinfo."""

import io
import socket
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs import endpoints
from jobs.models import CloudAccount
from tests.test_admin import ADD_URL, huawei_post

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://169.254.169.254",
    "http://169.254.169.254/",
    "https://169.254.0.23:8443",  # Tencent's metadata service
    "http://100.100.100.200",  # Alibaba Cloud's
    "http://[fd00:ec2::254]",  # AWS's IPv6 one
    "http://[fe80::1]:8080",
    "http://[::ffff:169.254.169.254]",  # IPv4-mapped
    "http://2852039166",  # 169.254.169.254 as one number
    "http://0xa9.0xfe.0xa9.0xfe",  # and in hex
]
ALLOWED = [
    "http://127.0.0.1:8765",  # fakecloud
    "http://localhost:8765",
    "http://[::1]:8765",
    "http://10.1.2.3",
    "http://192.168.0.10",
    "http://100.100.100.201",
    "https://203.0.113.7",
    "",
]


@pytest.fixture
def dns(monkeypatch):
    """A stand-in resolver for names that would need a DNS query: {name: [addresses]}."""
    records = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in records:
            return real(host, port, *args, **kwargs)
        if records[host] is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in records[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return records


@pytest.mark.parametrize("url", REFUSED)
def test_it_refuses_a_link_local_or_metadata_address(url):
    with pytest.raises(ValidationError) as info:
        endpoints.validate_endpoint(url)
    assert "link-local or cloud metadata address" in str(info.value)
    assert "ALLOW_LINK_LOCAL_ENDPOINTS" in str(info.value)


@pytest.mark.parametrize("url", ALLOWED)
def test_it_allows_loopback_private_and_public_addresses(url):
    endpoints.validate_endpoint(url)


def test_it_refuses_a_name_that_resolves_to_a_metadata_address(dns):
    dns["metadata.google.internal"] = ["169.254.169.254"]
    dns["imds.example.net"] = ["203.0.113.9", "fd00:ec2::254"]  # one bad address is enough

    for url in ("http://metadata.google.internal", "https://imds.example.net:8443"):
        with pytest.raises(ValidationError):
            endpoints.validate_endpoint(url)


def test_a_name_that_does_not_resolve_here_is_allowed(dns):
    dns["metastudio-ext.cn-north-4.myhuaweicloud.com"] = None
    dns["ci.internal.example.com"] = ["10.20.30.40"]

    endpoints.validate_endpoint("https://metastudio-ext.cn-north-4.myhuaweicloud.com")
    endpoints.validate_endpoint("https://ci.internal.example.com")


def test_a_resolver_that_hangs_counts_as_no_answer(monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait()
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    try:
        assert endpoints.resolve("slow.example.com", timeout=0.05) == []
    finally:
        release.set()


def test_the_server_can_allow_them(settings):
    settings.ALLOW_LINK_LOCAL_ENDPOINTS = True
    endpoints.validate_endpoint("http://169.254.169.254")


@pytest.mark.parametrize("field", ["endpoint", "iam_endpoint"])
def test_the_admin_form_refuses_them(admin_client, field):
    post = huawei_post(**{field: "http://169.254.169.254"})
    response = admin_client.post(ADD_URL, post)

    assert response.status_code == 200
    assert "link-local or cloud metadata address" in response.content.decode()
    assert not CloudAccount.objects.exists()


def test_the_admin_form_still_takes_a_loopback_endpoint(admin_client):
    response = admin_client.post(ADD_URL, huawei_post(endpoint="http://127.0.0.1:8765"))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert CloudAccount.objects.get().endpoint == "http://127.0.0.1:8765"


@pytest.mark.parametrize("option", ["--endpoint", "--iam-endpoint"])
def test_addaccount_refuses_them_with_a_clear_error(option):
    extra = ["--iam-domain", "dom", "--iam-user", "ops"] if option == "--iam-endpoint" else ["--access-key", "AK1"]
    with pytest.raises(CommandError) as info:
        call_command(
            "addaccount",
            "meta",
            "--provider",
            "huawei",
            "--project-id",
            "0123456789abcdef0123456789abcdef",
            *extra,
            option,
            "http://169.254.169.254",
            stdin=io.StringIO("the-secret\n"),
            stdout=io.StringIO(),
        )
    assert "169.254.169.254 reaches 169.254.169.254, a link-local or cloud metadata address" in str(info.value)
    assert "the-secret" not in str(info.value)
    assert not CloudAccount.objects.exists()


@pytest.mark.django_db
def test_a_sync_refuses_an_account_saved_with_a_metadata_endpoint(huawei_account):
    # Saved before the form checked it (or by a name that now resolves there): no call is made.
    from jobs import sync
    from jobs.models import CloudAccount, SyncRun

    CloudAccount.objects.filter(pk=huawei_account.pk).update(endpoint="http://169.254.169.254/")
    account = CloudAccount.objects.get(pk=huawei_account.pk)

    run = sync.sync_account_kind(account, "avatar_training")

    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "link_local_endpoint"
    assert "169.254.169.254" in run.error_message and run.api_calls == 0

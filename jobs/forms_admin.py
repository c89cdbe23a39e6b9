"""Admin forms: cloud accounts with write-only secrets.

A secret is never rendered back: the field is always empty, its help text says "set" or
"not set", a blank value on edit keeps the stored one, and a checkbox clears it. The account's
region, endpoint, project id, bucket and queue id are validated by building the provider
client from them (jobs.providers), so the rules live in one place.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from jobs.endpoints import validate_endpoint
from jobs.models import PROVIDER_KINDS, CloudAccount, Kind, Provider
from jobs.providers import get_provider, region_pattern
from jobs.providers.base import ProviderError

SECRET_WIDGET_ATTRS = {"autocomplete": "new-password", "spellcheck": "false"}

# Which form field a provider's configuration error is about (its message names it).
_ERROR_FIELDS = (
    ("project id", "project_id"),
    ("bucket", "bucket"),
    ("queue", "queue_id"),
    ("iam endpoint", "iam_endpoint"),
    ("iam user", "iam_user"),
    ("endpoint", "endpoint"),
    ("region", "region"),
    ("access key", "access_key_id"),
    ("list path", "list_path"),
)


def provider_config_error(account: CloudAccount):
    """Build the account's provider client offline; return (field or None, message) on failure."""
    try:
        get_provider(account)
    except ProviderError as exc:
        message = exc.message or str(exc)
    except (ValueError, KeyError) as exc:
        message = str(exc)
    else:
        return None
    lowered = message.lower()
    for needle, field in _ERROR_FIELDS:
        if needle in lowered:
            return field, message
    return None, message


def _override_url(label, model_field):
    return forms.URLField(
        label=label,
        required=False,
        assume_scheme="https",
        help_text=CloudAccount._meta.get_field(model_field).help_text,
        validators=[validate_endpoint],  # no link-local or cloud metadata address
    )


def _secret(label, help_text=""):
    """Typed in, never rendered back; a password keeps its spaces, keys and tokens do not."""
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs=SECRET_WIDGET_ATTRS),
    )


class CloudAccountForm(forms.ModelForm):
    endpoint = _override_url(_("Endpoint override"), "endpoint")
    secret_key = _secret(_("Secret key"))
    clear_secret_key = forms.BooleanField(label=_("Clear the stored secret key"), required=False)
    token = _secret(_("Token"), _("Huawei X-Auth-Token, or a Tencent temporary-credential session token. Optional."))
    clear_token = forms.BooleanField(label=_("Clear the stored token"), required=False)
    iam_endpoint = _override_url(_("IAM endpoint override"), "iam_endpoint")
    iam_password = _secret(_("IAM user password"))
    clear_iam_password = forms.BooleanField(label=_("Clear the stored IAM password"), required=False)
    kinds = forms.MultipleChoiceField(
        label=_("Job kinds to sync"),
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every kind the provider offers."),
    )
    # Unticked in a POST that lacks it (scripts, tests): only a person at the form is asked.
    check_credentials = forms.BooleanField(
        label=_("Test the credentials on save"),
        required=False,
        initial=True,
        help_text=_("One signed call to the cloud; a refusal is shown as a warning (the account is saved anyway)."),
    )

    class Meta:
        model = CloudAccount
        fields = [
            "name",
            "provider",
            "region",
            "endpoint",
            "project_id",
            "bucket",
            "queue_id",
            "list_path",
            "access_key_id",
            "secret_key",
            "clear_secret_key",
            "token",
            "clear_token",
            "iam_domain",
            "iam_user",
            "iam_password",
            "clear_iam_password",
            "iam_endpoint",
            "kinds",
            "enabled",
            "sync_interval",
            "active_sync_interval",
            "full_sync_interval",
            "max_rps",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        has_secret = bool(self.instance.pk and self.instance.has_secret_key)
        has_token = bool(self.instance.pk and self.instance.has_token)
        self.fields["secret_key"].help_text = (
            _("Currently set. Leave blank to keep it; type a new one to replace it.") if has_secret else _("Not set.")
        )
        self.fields["token"].help_text = "{} {}".format(
            _("Currently set. Leave blank to keep it.") if has_token else _("Not set."),
            self.fields["token"].help_text,
        )
        has_iam_password = bool(self.instance.pk and self.instance.has_iam_password)
        self.fields["iam_password"].help_text = "{} {}".format(
            _("Currently set. Leave blank to keep it.") if has_iam_password else _("Not set."),
            _("Huawei without AK/SK: the dashboard gets a 24-hour token from IAM with this user and renews it."),
        )
        if not has_iam_password:
            del self.fields["clear_iam_password"]
        if not has_secret:
            del self.fields["clear_secret_key"]
        if not has_token:
            del self.fields["clear_token"]
        self.fields["sync_interval"].min_value = 30
        self.fields["active_sync_interval"].min_value = 15

    def clean_secret_key(self):
        return self.cleaned_data["secret_key"].strip()

    def clean_token(self):
        return self.cleaned_data["token"].strip()

    def clean_kinds(self):
        return list(self.cleaned_data.get("kinds") or [])

    def clean_sync_interval(self):
        value = self.cleaned_data["sync_interval"]
        if value < 30:
            raise forms.ValidationError(_("At least 30 seconds."))
        return value

    def clean_active_sync_interval(self):
        value = self.cleaned_data["active_sync_interval"]
        if value < 15:
            raise forms.ValidationError(_("At least 15 seconds."))
        return value

    def clean(self):
        data = super().clean()
        provider = data.get("provider")
        if not provider:
            return data
        self._drop_other_clouds_fields(provider, data)
        offered = [k.value for k in PROVIDER_KINDS.get(provider, [])]
        wrong = [k for k in data.get("kinds") or [] if k not in offered]
        if wrong:
            self.add_error(
                "kinds",
                _("%(provider)s does not offer: %(kinds)s")
                % {"provider": Provider(provider).label, "kinds": ", ".join(wrong)},
            )
        if provider == Provider.HUAWEI and not data.get("project_id"):
            self.add_error("project_id", _("Huawei accounts need a project id."))
        if provider == Provider.TENCENT:
            if not data.get("bucket"):
                self.add_error("bucket", _("Tencent accounts need a bucket (name-APPID)."))
            if not data.get("queue_id"):
                self.add_error("queue_id", _("Tencent accounts need a queue id."))
        keeps_secret = self.instance.pk and self.instance.has_secret_key and not data.get("clear_secret_key")
        keeps_token = self.instance.pk and self.instance.has_token and not data.get("clear_token")
        has_iam = self._has_iam_password(data)
        if has_iam and provider != Provider.HUAWEI:
            self.add_error("iam_user", _("Only Huawei accounts authenticate with an IAM user."))
        if has_iam or data.get("iam_user") or data.get("iam_domain"):
            for name in ("iam_domain", "iam_user"):
                if not data.get(name):
                    self.add_error(name, _("Needed for an IAM user (with its account name, user name and password)."))
            if not has_iam:
                self.add_error("iam_password", _("Give the IAM user's password."))
        if not (data.get("secret_key") or keeps_secret or data.get("token") or keeps_token or has_iam):
            self.add_error("secret_key", _("Give a secret key (or an IAM user, or a token)."))
        if data.get("secret_key") and not data.get("access_key_id"):
            self.add_error("access_key_id", _("A secret key needs its access key id."))
        if not self.errors:
            self._check_with_provider(data)
        return data

    def _drop_other_clouds_fields(self, provider, data):
        """A value typed into the other cloud's fields before switching clouds (hidden, not
        cleared, by the page's script) is not saved. A Tencent account given an IAM user is
        refused below instead, since that is a credential someone meant to use."""
        dropped = ("bucket", "queue_id") if provider == Provider.HUAWEI else ("project_id",)
        for name in dropped:
            if name in data:
                data[name] = ""

    def _check_with_provider(self, data):
        probe = CloudAccount(
            **{
                name: data.get(name) or ""
                for name in (
                    "name",
                    "provider",
                    "region",
                    "endpoint",
                    "project_id",
                    "bucket",
                    "queue_id",
                    "list_path",
                    "access_key_id",
                    "iam_domain",
                    "iam_user",
                    "iam_endpoint",
                )
            }
        )
        probe.list_path = probe.list_path or "/ai_jobs"
        # The real secret is not needed to validate the settings, only its presence.
        has_secret = data.get("secret_key") or (
            self.instance.pk and self.instance.has_secret_key and not data.get("clear_secret_key")
        )
        has_token = data.get("token") or (self.instance.pk and self.instance.has_token and not data.get("clear_token"))
        probe.set_secret_key("x" * 32 if has_secret else "")
        probe.set_token("x" * 32 if has_token else "")
        probe.set_iam_password("x" * 32 if self._has_iam_password(data) else "")
        problem = provider_config_error(probe)
        pattern = region_pattern(probe.provider)
        if pattern is not None and not pattern.match(probe.region or ""):
            self.add_error("region", _("Not a region id of this cloud (e.g. cn-north-4, ap-guangzhou)."))
        if problem:
            field, message = problem
            self.add_error(field if field in self.fields else None, message)

    def _has_iam_password(self, data) -> bool:
        kept = self.instance.pk and self.instance.has_iam_password and not data.get("clear_iam_password")
        return bool(data.get("iam_password") or kept)

    def save(self, commit=True):
        account = super().save(commit=False)
        data = self.cleaned_data
        if data.get("clear_secret_key"):
            account.set_secret_key("")
        if data.get("secret_key"):
            account.set_secret_key(data["secret_key"])
        if data.get("clear_token"):
            account.set_token("")
        if data.get("token"):
            account.set_token(data["token"])
        if data.get("clear_iam_password"):
            account.set_iam_password("")
        if data.get("iam_password"):
            account.set_iam_password(data["iam_password"])
        elif self.instance.pk and {"iam_domain", "iam_user", "iam_endpoint", "project_id"} & set(self.changed_data):
            # A token of another user or project must not be sent on: fetch a new one.
            account.forget_iam_token()
        account.kinds = data.get("kinds") or []
        if commit:
            account.save()
        return account

"""The exact steps ``bookwire connect`` prints where bookwire does not register the webhook.

HubSpot: an app's webhook subscriptions live in the app's settings (developer platform), and a
workflow's *Send a webhook* action in the workflow editor: neither is created with the tenant's
API token. Acuity has a webhooks API (``POST /api/v1/webhooks``, ``{"event", "target"}``), but
its deliveries are signed with the account's API key, which is already the source's secret: the
steps give the one ``curl`` per event. Each function takes the tenant and the callback URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def env_name(*parts: str) -> str:
    """``acme-events``, ``calendly``, ``signing key`` → ``ACME_EVENTS_CALENDLY_SIGNING_KEY``."""
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_").upper() for p in parts)


def hubspot(tenant: str, url: str) -> str:
    secret, token = (
        env_name(tenant, "hubspot", "client secret"),
        env_name(tenant, "hubspot", "token"),
    )
    return f"""HubSpot has no API for an app's webhook subscriptions: in HubSpot
  1. Development → your app (scopes crm.objects.deals.read, crm.objects.contacts.read).
  2. Webhooks → Target URL: {url}
     (exactly BOOKWIRE_PUBLIC_BASE_URL + /webhooks/hubspot/{tenant}: the signature covers it)
  3. Create subscriptions: deal.creation, deal.deletion, deal.restore, and deal.propertyChange
     for dealstage and every deal property named in the source's options (start, end or
     duration, time zone, venue, title). Activate them.
  4. Copy the app's client secret into the secrets file as {secret}=…
     and a private-app access token (pat-…) as {token}=…
  5. Add to the tenants file (options: docs/connectors-hubspot-acuity-square.md);
     running processes load it within seconds:

[tenants.{tenant}.sources.hubspot]
secrets = [{{ env = "{secret}" }}]
credentials = {{ access_token = {{ env = "{token}" }} }}

  6. Check: HubSpot's "Test" button on a subscription must be answered 200 by the ingress.
     A workflow instead? bookwire connect hubspot-workflow --tenant {tenant} --url …"""


def hubspot_workflow(tenant: str, url: str) -> str:
    key = env_name(tenant, "hubspot workflow", "token")
    return f"""A HubSpot workflow's webhook is set in the workflow editor: in HubSpot
  1. Automation → Workflows → your deal workflow → add the action "Send a webhook".
  2. Method POST, URL: {url}
  3. Request body: include all properties (or those named in the source's options, with
     hs_lastmodifieddate).
  4. Authentication "API key": name X-Bookwire-Token, in a header; the value: generate one
     (e.g. `openssl rand -hex 32`) and put it in the secrets file as {key}=…
  5. Add to the tenants file (options: docs/connectors-hubspot-acuity-square.md);
     running processes load it within seconds:

[tenants.{tenant}.sources.hubspot-workflow]
secrets = [{{ env = "{key}" }}]

[tenants.{tenant}.sources.hubspot-workflow.options]
auth = "api_key"
api_key_name = "X-Bookwire-Token"
api_key_location = "header"

  6. Check: the action's "Test action" must be answered 2xx by the ingress."""


def acuity(tenant: str, url: str) -> str:
    user, key = env_name(tenant, "acuity", "user id"), env_name(tenant, "acuity", "api key")
    return f"""Acuity signs every webhook with the account's API key (no secret to choose):
  1. Acuity → Integrations → API: copy the user id and API key into the secrets file as
     {user}=… and {key}=…
  2. Either Integrations → Webhooks: set "changed" (or scheduled, rescheduled and canceled) to
     {url}
     or, with the API (one per event; Acuity allows 25 webhooks):
       for event in appointment.scheduled appointment.rescheduled appointment.canceled; do
         curl -u "${user}:${key}" -H 'Content-Type: application/json' \\
           -d '{{"event": "'$event'", "target": "{url}"}}' \\
           https://acuityscheduling.com/api/v1/webhooks
       done
     (Acuity requires the target on port 443 or 80.)
  3. Add to the tenants file (loaded within seconds, no restart):

[tenants.{tenant}.sources.acuity]
secrets = [{{ env = "{key}" }}]

[tenants.{tenant}.sources.acuity.credentials]
user_id = {{ env = "{user}" }}
api_key = {{ env = "{key}" }}

  4. Check: book a test appointment; `bookwire status --sources` shows its delivery."""


STEPS: dict[str, Callable[[str, str], str]] = {
    "hubspot": hubspot,
    "hubspot-workflow": hubspot_workflow,
    "acuity": acuity,
}

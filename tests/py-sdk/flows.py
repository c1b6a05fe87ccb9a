"""Realistic flows of the official Python SDK (PyPI `dodopayments`) against the local emulator.

Configured only by the variables `dodo-dev emulator --print-env` exports
(DODO_PAYMENTS_BASE_URL, DODO_PAYMENTS_API_KEY, DODO_PAYMENTS_WEBHOOK_KEY), exactly as an app
would be. Each flow asserts on values read back; webhooks are received by a real local HTTP
server and verified with the SDK's own `client.webhooks.unwrap`.
Usage: eval "$(dodo-dev emulator --print-env ...)"; python flows.py
"""

import json
import os
import queue
import threading
import traceback
import urllib.request
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dodopayments
from dodopayments import DodoPayments

BASE = os.environ["DODO_PAYMENTS_BASE_URL"]
KEY = os.environ["DODO_PAYMENTS_API_KEY"]

client = DodoPayments(max_retries=0)
results = []


def flow(fn):
    try:
        fn()
        results.append((fn.__name__, None))
    except Exception:  # noqa: BLE001 - report every failure, run every flow
        results.append((fn.__name__, traceback.format_exc()))
    return fn


# ---------- a real webhook receiver ----------
received = queue.Queue()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        received.put(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
HOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/webhooks"


def next_event(secret, wanted, timeout=30):
    """The next delivery of type `wanted`, verified and parsed by the SDK."""
    while True:
        headers, body = received.get(timeout=timeout)
        event = client.webhooks.unwrap(body, headers=headers, key=secret)
        if event.type == wanted:
            return event, headers


# ---------- the hosted checkout page, as a buyer's browser would submit it ----------
class Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action")
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def pay(checkout_url, card):
    """GETs the page (keeping its cookies, e.g. a CSRF cookie) and POSTs its form."""
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor())
    page = opener.open(checkout_url).read().decode()
    form = Form()
    form.feed(page)
    # What a buyer types: the billing address and the card (name and email are prefilled).
    form.fields.update(country="US", address_line="1 Main St", city="New York", state="NY",
                       zip_code="10001", card_number=card)
    action = urllib.parse.urljoin(checkout_url, form.action or checkout_url)
    data = urllib.parse.urlencode(form.fields).encode()
    try:
        resp = opener.open(urllib.request.Request(action, data=data))
        return resp.status
    except urllib.error.HTTPError as e:  # a 303 arrives here without a redirect handler
        return e.code


def admin(method, path, body=None):
    req = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def one_time(amount):
    return {"type": "one_time_price", "currency": "USD", "price": amount, "discount": 0,
            "purchasing_power_parity": False}


def every_page(list_fn, **params):
    """Ids of every item, page by page. The API's pages are 0-based; the SDK's auto-pagination
    treats page_number 0 as 1 and skips page 1, so pages are walked explicitly."""
    ids, page_number = [], 0
    while True:
        page = list_fn(page_number=page_number, **params)
        if not page.items:
            return ids
        ids += [getattr(i, "product_id", None) or getattr(i, "customer_id") for i in page.items]
        page_number += 1


# ---------- flows ----------
@flow
def ambiguous_url_trap_and_env_configuration():
    # The base URL comes from DODO_PAYMENTS_BASE_URL; adding an environment is an error.
    assert str(client.base_url).rstrip("/") == BASE.rstrip("/"), client.base_url
    try:
        DodoPayments(environment="test_mode")
        raise AssertionError("expected the Ambiguous URL error")
    except ValueError as e:
        assert "Ambiguous URL" in str(e), e
    assert client.webhook_key == os.environ["DODO_PAYMENTS_WEBHOOK_KEY"]


@flow
def products_and_customers_round_trip_and_page_through():
    created = [client.products.create(name=f"Course {i}", price=one_time(1000 + i),
                                      tax_category="edtech") for i in range(7)]
    got = client.products.retrieve(created[0].product_id)
    assert got.name == "Course 0" and got.price.price == 1000
    client.products.update(created[0].product_id, name="Course zero")
    assert client.products.retrieve(created[0].product_id).name == "Course zero"
    ids = every_page(client.products.list, page_size=3)
    assert len(ids) == len(set(ids)), "no product listed twice"
    assert all(c.product_id in ids for c in created)

    customers = [client.customers.create(email=f"py{i}@example.com", name=f"Py {i}") for i in range(4)]
    client.customers.update(customers[0].customer_id, name="Renamed")
    assert client.customers.retrieve(customers[0].customer_id).name == "Renamed"
    listed = every_page(client.customers.list, page_size=2)
    assert all(c.customer_id in listed for c in customers)


@flow
def unknown_ids_raise_the_sdks_not_found_error():
    try:
        client.payments.retrieve("pay_doesnotexist")
        raise AssertionError("expected NotFoundError")
    except dodopayments.NotFoundError as e:
        assert e.status_code == 404


endpoint = client.webhooks.create(url=HOOK_URL, description="python flows")
SECRET = client.webhooks.retrieve_secret(endpoint.id).secret


@flow
def checkout_session_paid_on_the_hosted_page_sends_a_verified_webhook():
    assert SECRET.startswith("whsec_")
    product = client.products.create(name="Ebook", price=one_time(2500), tax_category="digital_products")
    customer = client.customers.create(email="buyer@example.com", name="Buyer")
    session = client.checkout_sessions.create(
        product_cart=[{"product_id": product.product_id, "quantity": 2}],
        customer={"customer_id": customer.customer_id},
        return_url="https://shop.example/thanks",
    )
    assert session.checkout_url.startswith(BASE), session.checkout_url
    status = pay(session.checkout_url, "4242 4242 4242 4242")
    assert status in (200, 303), status
    event, headers = next_event(SECRET, "payment.succeeded")
    assert headers["webhook-signature"].startswith("v1,"), headers
    assert event.data.customer.customer_id == customer.customer_id
    assert event.data.total_amount == 5000, event.data.total_amount
    payment = client.payments.retrieve(event.data.payment_id)
    assert payment.status == "succeeded", payment.status


@flow
def a_declined_card_sends_payment_failed():
    product = client.products.create(name="Poster", price=one_time(900), tax_category="digital_products")
    customer = client.customers.create(email="declined@example.com", name="Declined")
    payment = client.payments.create(
        billing={"country": "US", "city": "New York", "state": "NY", "street": "1 Main St", "zipcode": "10001"},
        customer={"customer_id": customer.customer_id},
        product_cart=[{"product_id": product.product_id, "quantity": 1}],
        payment_link=True,
    )
    pay(payment.payment_link, "4000 0000 0000 0002")
    event, _ = next_event(SECRET, "payment.failed")
    assert event.data.payment_id == payment.payment_id
    assert client.payments.retrieve(payment.payment_id).status == "failed"


@flow
def a_subscription_renews_when_the_clock_moves():
    plan = client.products.create(
        name="Monthly", tax_category="saas",
        price={"type": "recurring_price", "currency": "USD", "price": 1200, "discount": 0,
               "purchasing_power_parity": False, "payment_frequency_count": 1,
               "payment_frequency_interval": "Month", "subscription_period_count": 12,
               "subscription_period_interval": "Month"},
    )
    customer = client.customers.create(email="subscriber@example.com", name="Subscriber")
    session = client.checkout_sessions.create(
        product_cart=[{"product_id": plan.product_id, "quantity": 1}],
        customer={"customer_id": customer.customer_id},
    )
    pay(session.checkout_url, "4242 4242 4242 4242")
    active, _ = next_event(SECRET, "subscription.active")
    sub_id = active.data.subscription_id
    before = client.subscriptions.retrieve(sub_id).next_billing_date
    admin("POST", "/_emulator/clock/advance", {"by": "31d"})
    renewed, _ = next_event(SECRET, "subscription.renewed")
    assert renewed.data.subscription_id == sub_id
    assert client.subscriptions.retrieve(sub_id).next_billing_date > before


@flow
def usage_events_are_deduplicated_by_event_id():
    customer = client.customers.create(email="meter@example.com", name="Meter")
    events = [{"event_id": f"evt_py_{i}", "customer_id": customer.customer_id,
               "event_name": "api.call"} for i in range(5)]
    assert client.usage_events.ingest(events=events).ingested_count == 5
    assert client.usage_events.ingest(events=events).ingested_count == 0
    assert client.usage_events.retrieve("evt_py_0").event_name == "api.call"


server.shutdown()
failed = 0
for name, error in results:
    print(("ok   " if error is None else "FAIL ") + name)
    if error:
        print(error)
        failed += 1
print(f"{len(results) - failed} passed, {failed} failed")
raise SystemExit(1 if failed else 0)

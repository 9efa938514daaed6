"""Standalone Django for the harness: importing this module configures settings (an in-memory
SQLite database and the `harness_djapp` app), runs `django.setup()`, creates the tables and seeds
them. Fixture modules import the models from here: `from harness_django import Customer, Order`.
"""

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=["harness_djapp"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
    )
    django.setup()

from django.db import connection  # noqa: E402

import harness_data  # noqa: E402
from harness_djapp.models import Account, AuditedNote, AuditEntry, Customer, Order, OrderItem, SluggedTag  # noqa: E402

__all__ = ["Account", "AuditEntry", "AuditedNote", "Customer", "Order", "OrderItem", "SluggedTag", "connection"]


def _create_and_seed():
    with connection.schema_editor() as editor:
        for model in (Customer, Order, OrderItem, AuditedNote, AuditEntry, SluggedTag, Account):
            editor.create_model(model)
    Customer.objects.bulk_create([Customer(**row) for row in harness_data.customers()], batch_size=500)
    order_rows = harness_data.orders()
    Order.objects.bulk_create([Order(id=i, **row) for i, row in enumerate(order_rows, start=1)], batch_size=500)
    OrderItem.objects.bulk_create(
        [OrderItem(**row) for row in harness_data.order_items(len(order_rows))], batch_size=500
    )
    Account.objects.bulk_create([Account(**row) for row in harness_data.accounts()], batch_size=500)


if "harness_djapp_customer" not in connection.introspection.table_names():
    _create_and_seed()

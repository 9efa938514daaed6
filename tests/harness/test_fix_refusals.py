"""Why some fixes are refused: the rewrite a naive fix would make, run against the real database,
fails where the original works. Each test pins the reason a no_fix.txt case gives."""

import pytest


def test_a_loader_option_on_a_dynamic_relationship_raises(harness):
    """inb002_dynamic: `selectinload(Customer.order_query)` — what INB002's safe fix used to add —
    makes SQLAlchemy raise when the query runs, while the original per-row `.all()` works."""
    from sqlalchemy.exc import InvalidRequestError
    from sqlalchemy.orm import selectinload

    models = harness.sa.models
    session = models.db_session()
    try:
        customers = session.query(models.Customer).order_by(models.Customer.id).limit(3).all()
        assert [len(c.order_query.all()) for c in customers], "the original runs"
        with pytest.raises(InvalidRequestError):
            session.query(models.Customer).options(selectinload(models.Customer.order_query)).all()
    finally:
        session.rollback()
        models.db_session.remove()


def test_a_count_batched_before_a_loop_that_creates_rows_misses_them(harness):
    """django_write_read_model: counting each customer's open orders once before the loop, as a
    batch fix would, misses the order an earlier iteration created for a repeated id."""
    from django.db import transaction

    from harness_django import Customer, Order

    def count(cid):
        return Customer.objects.filter(pk=cid, orders__status="open").count()

    ids = [5, 5]
    with transaction.atomic():
        original = []
        for cid in ids:
            original.append(count(cid))
            Order.objects.create(customer_id=cid, status="open", placed=0)
        transaction.set_rollback(True)
    with transaction.atomic():
        before = {cid: count(cid) for cid in ids}
        naive = []
        for cid in ids:
            naive.append(before[cid])
            Order.objects.create(customer_id=cid, status="open", placed=0)
        transaction.set_rollback(True)
    assert original[1] == original[0] + 1
    assert naive[1] == naive[0]

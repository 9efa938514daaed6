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

# SQLAlchemy 2.0 style: select() with execute / scalars / scalar / get.
from sqlalchemy import func, select

from models import Order, User


def execute_select(session, user_ids):
    for uid in user_ids:
        rows = session.execute(select(Order).where(Order.user_id == uid)).scalars().all()  # expect: INB001
        print(rows)


def scalars_select(session, user_ids):
    for uid in user_ids:
        orders = session.scalars(select(Order).where(Order.user_id == uid)).all()  # expect: INB001
        print(orders)


def scalar_count(session, user_ids):
    for uid in user_ids:
        n = session.scalar(select(func.count()).select_from(Order).where(Order.user_id == uid))  # expect: INB001
        print(n)


def session_get(session, user_ids):
    for uid in user_ids:
        user = session.get(User, uid)  # expect: INB001
        print(user)


def db_session_execute(db, user_ids):
    for uid in user_ids:
        print(db.session.execute(select(User).filter_by(id=uid)).scalar_one())  # expect: INB001


def statement_built_first(session, user_ids):
    for uid in user_ids:
        stmt = select(Order).where(Order.user_id == uid).order_by(Order.id)
        print(session.scalars(stmt).first())  # expect: INB001


def sqlalchemy_module_select(session, user_ids):
    import sqlalchemy as sa

    for uid in user_ids:
        print(session.execute(sa.select(Order).where(Order.user_id == uid)).all())  # expect: INB001


def connection_execute(engine, user_ids):
    with engine.connect() as connection:
        for uid in user_ids:
            print(connection.execute(select(User.email).where(User.id == uid)).fetchone())  # expect: INB001

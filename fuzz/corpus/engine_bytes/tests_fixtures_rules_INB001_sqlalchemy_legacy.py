# Legacy Query API: session.query(M) with every terminal, and iterated.
from models import Order, Payment, User


def filter_by_all(session, user_ids):
    for uid in user_ids:
        orders = session.query(Order).filter_by(user_id=uid).all()  # expect: INB001
        print(orders)


def filter_first(session, user_ids):
    for uid in user_ids:
        latest = session.query(Order).filter(Order.user_id == uid).order_by(Order.created.desc()).first()  # expect: INB001
        print(latest)


def filter_one(session, user_ids):
    for uid in user_ids:
        user = session.query(User).filter(User.id == uid).one()  # expect: INB001
        print(user)


def filter_one_or_none(session, user_ids):
    for uid in user_ids:
        user = session.query(User).filter(User.id == uid).one_or_none()  # expect: INB001
        print(user)


def scalar(session, user_ids):
    for uid in user_ids:
        email = session.query(User.email).filter(User.id == uid).scalar()  # expect: INB001
        print(email)


def count(session, user_ids):
    totals = {}
    for uid in user_ids:
        totals[uid] = session.query(Order).filter(Order.user_id == uid).count()  # expect: INB001
    return totals


def iterated(session, user_ids):
    for uid in user_ids:
        for order in session.query(Order).filter(Order.user_id == uid):  # expect: INB001
            print(order)


def db_session(db, user_ids):
    for uid in user_ids:
        payments = db.session.query(Payment).filter_by(user_id=uid).all()  # expect: INB001
        print(payments)


def self_session(self, user_ids):
    for uid in user_ids:
        rows = self.session.query(Payment).filter(Payment.user_id == uid).all()  # expect: INB001
        print(rows)


def multiline_chain(session, user_ids):
    for uid in user_ids:
        rows = (
            session.query(Order)  # expect: INB001
            .filter(Order.user_id == uid)
            .all()
        )
        print(rows)


def with_session_binding(engine, user_ids):
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        for uid in user_ids:
            print(s.query(Order).filter_by(user_id=uid).all())  # expect: INB001


def annotated_session_parameter(s: "Session", user_ids):
    for uid in user_ids:
        print(s.query(Order).filter_by(user_id=uid).first())  # expect: INB001


def session_from_factory(user_ids):
    s = SessionLocal()
    for uid in user_ids:
        print(s.query(Order).filter_by(user_id=uid).count())  # expect: INB001

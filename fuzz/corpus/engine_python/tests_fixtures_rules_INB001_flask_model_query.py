# Flask-SQLAlchemy and query_property: Model.query, db.get_or_404.
from app import db
from models import Payment, Session, User


def model_query_filter_by(user_ids):
    for uid in user_ids:
        sessions = Session.query.filter_by(user_id=uid).all()  # expect: INB001
        print(sessions)


def model_query_filter(user_ids):
    for uid in user_ids:
        payments = Payment.query.filter(Payment.user_id == uid).all()  # expect: INB001
        print(payments)


def model_query_get(user_ids):
    for uid in user_ids:
        user = User.query.get(uid)  # expect: INB001
        print(user)


def model_query_get_or_404(user_ids):
    return [User.query.get_or_404(uid) for uid in user_ids]  # expect: INB001


def db_get_or_404(user_ids):
    for uid in user_ids:
        print(db.get_or_404(User, uid))  # expect: INB001


def module_qualified_model(user_ids):
    import models

    for uid in user_ids:
        print(models.Payment.query.filter_by(user_id=uid).first())  # expect: INB001

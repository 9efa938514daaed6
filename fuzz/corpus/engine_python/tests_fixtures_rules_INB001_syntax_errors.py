# A file with a syntax error is still analysed where the tree is sound.
from models import Order, User


def before_the_error(session, user_ids):
    for uid in user_ids:
        print(session.get(User, uid))  # expect: INB001


def broken(session, user_ids:
    for uid in user_ids
        print(session.get(User, uid)


def after_the_error(session, user_ids):
    for uid in user_ids:
        print(session.query(Order).filter_by(user_id=uid).all())  # expect: INB001

"""INB001 three times in one loop: sessions, payments and the profile of each user."""

from harness_models import Payment, Profile, Session, db_session


def run(session, ids):
    """{user id: {"sessions": n, "payments": [amount...], "bio": str or None}}."""
    result = {}
    for uid in ids:
        sessions = Session.query.filter_by(user_id=uid).all()
        payments = db_session.query(Payment).filter(Payment.user_id == uid).all()
        profile = session.query(Profile).filter_by(user_id=uid).first()
        result[uid] = {
            "sessions": len(sessions),
            "payments": [p.amount for p in payments],
            "bio": profile.bio if profile else None,
        }
    return result

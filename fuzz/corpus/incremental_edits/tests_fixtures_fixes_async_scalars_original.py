"""INB001: `await session.scalars(select(Session).where(Session.user_id == uid))` per user."""

from sqlalchemy import select

from harness_models import Session


async def run(session, ids):
    """`started` values of each user's login sessions: {user id: [int, ...]}."""
    result = {}
    for uid in ids:
        sessions = (await session.scalars(select(Session).where(Session.user_id == uid))).all()
        result[uid] = [s.started for s in sessions]
    return result

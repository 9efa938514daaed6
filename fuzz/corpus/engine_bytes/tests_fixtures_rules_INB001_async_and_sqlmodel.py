# Async sessions and SQLModel's session.exec.
from sqlalchemy import select
from sqlmodel import Session as SQLModelSession
from sqlmodel import select as sqlmodel_select

from models import Hero, Order, User


async def await_scalars(session, user_ids):
    for uid in user_ids:
        orders = (await session.scalars(select(Order).where(Order.user_id == uid))).all()  # expect: INB001
        print(orders)


async def await_execute(session, user_ids):
    for uid in user_ids:
        result = await session.execute(select(User).where(User.id == uid))  # expect: INB001
        print(result.scalar_one())


async def await_get(session, user_ids):
    return [await session.get(User, uid) for uid in user_ids]  # expect: INB001


async def async_for_loop(session, user_stream):
    async for uid in user_stream:
        print(await session.scalar(select(User.email).where(User.id == uid)))  # expect: INB001


def sqlmodel_exec(engine, team_ids):
    with SQLModelSession(engine) as session:
        for team_id in team_ids:
            heroes = session.exec(sqlmodel_select(Hero).where(Hero.team_id == team_id)).all()  # expect: INB001
            print(heroes)


async def async_with_session(async_session, user_ids):
    async with async_session() as s:
        for uid in user_ids:
            print(await s.get(User, uid))  # expect: INB001

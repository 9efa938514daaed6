"""Models for the analytics example: Flask-SQLAlchemy-style `Model.query` on plain SQLAlchemy 2.x."""

from decimal import Decimal
from typing import Optional

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, scoped_session, sessionmaker

db_session = scoped_session(sessionmaker())


class Base(DeclarativeBase):
    query = db_session.query_property()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    sessions: Mapped[list["Session"]] = relationship(back_populates="user")
    payments: Mapped[list["Payment"]] = relationship(back_populates="user")


class Session(Base):
    """A login session (not a database session)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    user: Mapped[User] = relationship(back_populates="sessions")


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # NULL for payments still pending: summing it needs care (INB201).
    amount: Mapped[Optional[Decimal]] = mapped_column(Numeric(10, 2))
    user: Mapped[User] = relationship(back_populates="payments")

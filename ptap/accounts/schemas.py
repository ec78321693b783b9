"""JSON shapes of accounts and tokens in the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ptap.accounts.models import TokenScope


class UserOut(BaseModel):
    """A user as the API shows it (no secrets, no security counters)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    first_name: str
    last_name: str
    profession: str
    role: str
    rpps: str | None
    active: bool


class TokenOut(BaseModel):
    """A personal API token, without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenList(BaseModel):
    """The user's tokens, newest first."""

    model_config = ConfigDict(from_attributes=True)

    items: list[TokenOut]


class TokenCreate(BaseModel):
    """Request body to create a token."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    scopes: list[TokenScope] = Field(min_length=1)
    days: int | None = Field(default=None, ge=1, le=365)
    #: Re-authentication: the password and a fresh TOTP code, unless the session
    #: re-authenticated within the last few minutes.
    password: str | None = Field(default=None, max_length=1000)
    code: str | None = Field(default=None, max_length=20)


class TokenCreated(TokenOut):
    """A new token, with its secret shown this one time."""

    token: str

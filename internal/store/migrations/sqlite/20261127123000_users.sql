-- +goose Up
-- Console users of an insurer, their browser sessions and invitations.
-- Session and invitation tokens are stored only as SHA-256 hashes.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    insurer_id       TEXT NOT NULL REFERENCES insurers(id),
    email            TEXT NOT NULL UNIQUE,         -- lower case; sign-in finds the tenant by it
    name             TEXT NOT NULL,
    role             TEXT NOT NULL,                -- UNDERWRITER | FINANCE | ADMIN
    password_hash    TEXT NOT NULL,                -- argon2id, PHC string
    totp_secret      TEXT NOT NULL DEFAULT '',     -- base32; empty: no second factor
    totp_last_step   BIGINT NOT NULL DEFAULT 0,    -- last accepted code, so a code works once
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    disabled_at      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    last_sign_in_at  BIGINT
);
CREATE INDEX users_insurer ON users (insurer_id, email);

CREATE TABLE user_sessions (
    hash          BLOB PRIMARY KEY,               -- SHA-256 of the cookie's token
    user_id       TEXT NOT NULL REFERENCES users(id),
    insurer_id    TEXT NOT NULL,
    csrf          TEXT NOT NULL,
    mode          TEXT NOT NULL,                   -- LIVE | TEST: the data the user looks at
    mfa_pending   INTEGER NOT NULL DEFAULT 0,
    pending_totp  TEXT NOT NULL DEFAULT '',        -- otpauth URL being enrolled
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (insurer_id, user_id);
CREATE INDEX user_sessions_expiry ON user_sessions (expires_at);

CREATE TABLE user_invitations (
    id           TEXT PRIMARY KEY,
    insurer_id   TEXT NOT NULL REFERENCES insurers(id),
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    user_id      TEXT
);
CREATE INDEX user_invitations_insurer ON user_invitations (insurer_id, id);

-- +goose Down
DROP TABLE user_invitations;
DROP TABLE user_sessions;
DROP TABLE users;

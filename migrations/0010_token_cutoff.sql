-- Access tokens are JWTs that live 15 minutes and are stored nowhere, so a password change cannot revoke
-- them one by one. It sets this instead: the first second (a token's `iat` is in whole seconds) whose
-- tokens are still let in. Tokens issued before the change are refused at once, as its refresh tokens
-- already were. 0: every token of the user counts.
ALTER TABLE users ADD COLUMN tokens_valid_from INTEGER NOT NULL DEFAULT 0;

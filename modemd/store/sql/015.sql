-- campaigns count the recipients skipped when queued for the key's hourly [limits]
ALTER TABLE campaigns ADD COLUMN limited INTEGER NOT NULL DEFAULT 0;  -- refused as /send would (code 11)

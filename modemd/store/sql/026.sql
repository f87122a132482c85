-- whether a job's key had a wallet when the job was accepted: a send's record reads the ledger only for a priced job
-- 1 (the default): look, as before: every row older than the column, any insert that does not say
ALTER TABLE jobs ADD COLUMN priced INTEGER NOT NULL DEFAULT 1

-- the reply match's index is written when a job leaves the queue, not at its accept: jobs_pin_to gives way to jobs_pin_to_claimed (jobs a device took: the claim writes the entry, a requeue takes it out, the moves after the claim leave it alone) and jobs_pin_to_unclaimed (jobs cancelled or lapsed in the queue); the match reads each with the index's condition as written (SQLite reads a partial index only for a WHERE that holds it)
DROP INDEX jobs_pin_to;
CREATE INDEX jobs_pin_to_claimed ON jobs(pin, to_number) WHERE device_id IS NOT NULL;
CREATE INDEX jobs_pin_to_unclaimed ON jobs(pin, to_number) WHERE device_id IS NULL AND state NOT IN ('queued', 'failed')

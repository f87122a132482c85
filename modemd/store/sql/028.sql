-- jobs_pin_sent goes: each send's record wrote a leaf of it for one reader, a campaign's time estimate (campaign_views.measured_send_s), which now reads the last hour's sends from the newest rows of job_parts (PostgreSQL, without a rowid: from an index of job_parts' sent_at)
DROP INDEX jobs_pin_sent

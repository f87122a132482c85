-- the queued jobs' valid_until index goes: it cost about a fifth of a campaign's queueing
DROP INDEX jobs_queued_valid_until
